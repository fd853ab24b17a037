package spec

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// What compose-go costs, beyond parsing (source_limits.go bounds that):
// measured with compose-go v2.16.2 on one core.
//
//   - It builds a value for every alias use, and the JSON schema check
//     marshals them all: 1 GB of scalars once aliases are expanded (a
//     1 MB string, anchored, used 1,000 times: a 1 MB file) took 48 s
//     and 6.8 GB.
//   - Interpolation rescans the rest of a string at every "${" with a
//     default (${A:-x}), some 16 to 64 ns a byte: 500 of them in a 1 MB
//     string took 8 to 32 s.
//   - A string command or entrypoint is split by go-shellwords, which
//     grows each word a rune at a time: a 64 KB word took 3 s.
//   - A port range becomes one entry per port, each some 50 µs of work:
//     "1-65535:1-65535", one line, took 3 s.
//   - Every node, aliases expanded, costs some 60 µs (decoding, path
//     matching, interpolation, transforms, mapstructure): 100 services
//     sharing an anchor of 700 labels (70,000 nodes) took 4.4 s. And the
//     YAML decoder checks each key of a mapping against all the others:
//     one mapping of 70,000 keys took 18 s.
//
// So before compose-go reads the files, the index is walked with aliases
// expanded (bounded by maxExpandedNodes) and these are summed over all
// files; each limit keeps its work under about a second, and is far above
// what real files need.
const (
	// maxExpandedBytes caps the bytes of scalars, aliases expanded.
	maxExpandedBytes = 16 << 20
	// maxInterpolationWork caps the "${" of each scalar times its length,
	// summed.
	maxInterpolationWork = 16 << 20
	// maxSplitWork caps the squared length of every command and
	// entrypoint written as a string, summed.
	maxSplitWork = 1 << 30
	// maxPortMappings caps the ports that `ports:` entries publish, with
	// ranges counted port by port.
	maxPortMappings = 10_000
	// maxLoadNodes caps the nodes of all files, aliases expanded: some 2 s
	// of compose-go's time. The largest real files have a few thousand.
	maxLoadNodes = 30_000
	// maxMappingKeys caps the keys of one mapping.
	maxMappingKeys = 5_000
)

// checkLoadCost refuses files that would cost compose-go more than the
// limits above, naming the place where the limit was passed.
func (ix *sourceIndex) checkLoadCost() error {
	c := &costWalk{}
	for _, t := range ix.files {
		c.file = t.name
		for _, doc := range t.docs {
			if err := c.walk(doc, nil, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

type costWalk struct {
	file                                   string
	nodes, bytes, interp, splitWork, ports int64
}

// walk adds up n's cost. via is the alias through which n is reached, if
// any: a limit passed inside an alias's expansion is reported at the
// alias, the use that costs, not where the anchor was written. depth
// guards against an alias cycle, which indexSources refuses already.
func (c *costWalk) walk(n, via *yaml.Node, depth int) error {
	if depth > maxSourceDepth+1 {
		return nil
	}
	at := n
	if via != nil {
		at = via
	}
	if n.Kind != yaml.AliasNode {
		c.nodes++
		if c.nodes > maxLoadNodes {
			return c.fail(at, fmt.Sprintf("with their aliases expanded, the stack files have more than %d keys and values, more than berth loads", maxLoadNodes))
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			return c.walk(n.Alias, at, depth+1)
		}
	case yaml.ScalarNode:
		l := int64(len(n.Value))
		c.bytes += l
		c.interp += int64(strings.Count(n.Value, "${")) * l
		switch {
		case c.bytes > maxExpandedBytes:
			return c.fail(at, fmt.Sprintf("with its aliases expanded, the file holds more than %d MiB of text, more than berth loads", maxExpandedBytes>>20))
		case c.interp > maxInterpolationWork:
			return c.fail(at, "too many ${...} in too long strings for berth to interpolate them in reasonable time: split the strings, or use fewer variables")
		}
	case yaml.MappingNode:
		if len(n.Content)/2 > maxMappingKeys {
			return c.fail(at, fmt.Sprintf("a mapping of %d keys, more than the %d berth loads in one", len(n.Content)/2, maxMappingKeys))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "ports" {
				if seq := deref(v); seq.Kind == yaml.SequenceNode {
					for _, item := range seq.Content {
						c.ports += portCount(deref(item))
					}
					if c.ports > maxPortMappings {
						return c.fail(orNode(via, v), fmt.Sprintf("more than %d published ports, ranges counted port by port, more than berth loads", maxPortMappings))
					}
				}
			}
			if k.Value == "command" || k.Value == "entrypoint" {
				if s := deref(v); s.Kind == yaml.ScalarNode {
					c.splitWork += int64(len(s.Value)) * int64(len(s.Value))
					if c.splitWork > maxSplitWork {
						return c.fail(orNode(via, v), fmt.Sprintf("%s is too long for berth to split it into words in reasonable time: write it as a list ([\"sh\", \"-c\", \"...\"]), which is not split", k.Value))
					}
				}
			}
			if err := c.walk(k, via, depth+1); err != nil {
				return err
			}
			if err := c.walk(v, via, depth+1); err != nil {
				return err
			}
		}
	default:
		for _, e := range n.Content {
			if err := c.walk(e, via, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *costWalk) fail(n *yaml.Node, msg string) error {
	return &sourceLimitError{Position: Position{File: c.file, Line: n.Line, Column: n.Column}, Message: msg}
}

// orNode returns via when set, else n.
func orNode(via, n *yaml.Node) *yaml.Node {
	if via != nil {
		return via
	}
	return n
}

// portCount is the number of ports a `ports:` entry publishes: the size of
// the container range of "8000-8100:8000-8100/tcp", else 1.
func portCount(n *yaml.Node) int64 {
	if n.Kind != yaml.ScalarNode {
		return 1
	}
	spec, _, _ := strings.Cut(n.Value, "/")
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		spec = spec[i+1:]
	}
	lo, hi, ok := strings.Cut(spec, "-")
	if !ok {
		return 1
	}
	a, err1 := strconv.ParseInt(lo, 10, 64)
	b, err2 := strconv.ParseInt(hi, 10, 64)
	if err1 != nil || err2 != nil || b < a {
		return 1
	}
	return b - a + 1
}
