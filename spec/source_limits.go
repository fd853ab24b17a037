package spec

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v4"
)

// Limits that keep a hostile or broken stack file (a "YAML bomb") from
// taking the host's time and memory. Each is far above what a real
// Compose file needs: the largest ones in the wild are a few hundred
// kilobytes, a few thousand nodes and a dozen levels deep, and compose-go
// itself gives up on a document past 100,000 nodes.
//
// They are sized by what go.yaml.in/yaml/v4 (the parser compose-go uses,
// so the one that reads the file after us) costs: about 250 bytes of
// memory a node, and in flow style ([a, b] and {a: b}) far more. It holds
// every token of an outermost flow collection until the collection closes
// (it might be a key, as in "[a, b]: c"), some 30 µs and 4 KB a token. So
// the flow limit is checked before parsing, on the punctuation that flow
// collections cannot do without: every item of one but the last is
// followed by a comma, and every one opens with a bracket. It counts the
// whole file, since telling flow collections from the commas of strings
// and comments takes a YAML scanner of our own: a file of small flow
// collections is counted as one large one. That only matters past 50,000
// of them, where a file (JSON, say) has some 100,000 nodes, which
// compose-go refuses anyway.
//
// With these the worst inputs we know of (50,000 flow-style pairs, a third
// of a million empty keys) take one or two seconds and 150 to 200 MB.
const (
	// maxSourceSize caps a stack file's size.
	maxSourceSize = 4 << 20
	// maxFlowPunctuation caps the commas, '[' and '{' in a file.
	maxFlowPunctuation = 50_000
	// maxSourceTokens caps the words (runs of non-blanks), punctuation
	// marks that YAML gives a meaning (-?:,[]{}) and line breaks in a
	// file. Every node needs one of them at least (a block mapping's
	// key, the "-" of an item, the ":" of an empty value...), so it
	// bounds the nodes the parser builds before it builds them; a real
	// file counts two to four of them a node.
	maxSourceTokens = 1_000_000
	// maxSourceDepth caps how deep collections nest, aliases expanded.
	// The document's top-level mapping is level 1; services.web.deploy.
	// resources.limits.cpus is at 6.
	maxSourceDepth = 100
	// maxScalarSize caps a single scalar (an inline config's content,
	// a command), in bytes.
	maxScalarSize = 1 << 20
	// maxExpandedNodes caps the nodes of one document once its aliases
	// are expanded, which is what a loader building values from it makes:
	// nine anchors each listing the previous one nine times ("billion
	// laughs") are 3 KB of text and 400 million nodes.
	maxExpandedNodes = 1_000_000
)

// checkSourceText checks the limits that must hold before the YAML parser
// sees the bytes: size, and what the parser's time and memory grow with.
func checkSourceText(f sourceFile) error {
	if len(f.Data) > maxSourceSize {
		return &sourceLimitError{
			Position: Position{File: f.Name},
			Message:  fmt.Sprintf("the file is %d bytes, more than the %d MiB berth reads in a stack file", len(f.Data), maxSourceSize>>20),
		}
	}
	tokens, flow := 0, 0
	afterSpace := true
	for i, c := range f.Data {
		switch c {
		case ',', '[', '{':
			flow++
			tokens++
		case '-', '?', ':', ']', '}', '\n':
			tokens++
		}
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r'
		if !space && afterSpace {
			tokens++ // a word starts
		}
		afterSpace = space
		switch {
		case flow > maxFlowPunctuation:
			return textLimitError(f, i, fmt.Sprintf("more than %d commas and brackets in the file; "+
				"the YAML parser needs too much time and memory for that many flow-style ([a, b] or {a: b}) items: "+
				"write long lists in block style, one \"- item\" a line", maxFlowPunctuation))
		case tokens > maxSourceTokens:
			return textLimitError(f, i, fmt.Sprintf("more than %d words, punctuation marks and lines in the file, "+
				"more than berth parses in a stack file", maxSourceTokens))
		}
	}
	return nil
}

// textLimitError is a limit passed at byte i of f.
func textLimitError(f sourceFile, i int, msg string) error {
	line := 1 + bytes.Count(f.Data[:i], []byte{'\n'})
	return &sourceLimitError{Position: Position{File: f.Name, Line: line}, Message: msg}
}

// sourceLimitError is a stack file over one of the limits above. Its
// Error reads "compose.yaml:12:5: message", with as much of the position
// as is known.
type sourceLimitError struct {
	Position Position
	Message  string
}

func (e *sourceLimitError) Error() string { return e.Position.String() + ": " + e.Message }

// treeStat is what checkSourceTree learns of a node: how many nodes it
// expands to and how many levels of collections it holds.
type treeStat struct {
	nodes  int
	levels int
}

// treeChecker walks one document once. Aliases are not expanded: each
// anchored node's stat is computed once and reused for every alias to it,
// so the walk is linear in the text however large the expansion is.
type treeChecker struct {
	file string
	// anchored holds the stat of each anchored node walked so far.
	anchored map[*yaml.Node]treeStat
	// open holds the anchored nodes being walked: an alias to one of them
	// would contain itself.
	open map[*yaml.Node]bool
}

// checkSourceTree checks the limits on a parsed document: depth, scalar
// size, alias expansion and self-containing aliases.
func checkSourceTree(file string, root *yaml.Node) error {
	c := &treeChecker{file: file, anchored: map[*yaml.Node]treeStat{}, open: map[*yaml.Node]bool{}}
	_, err := c.walk(root, 0)
	return err
}

// walk returns the stat of n, found at depth levels of collections below
// the document.
func (c *treeChecker) walk(n *yaml.Node, depth int) (treeStat, error) {
	if n.Kind == yaml.AliasNode {
		return c.alias(n, depth)
	}
	if s, ok := c.anchored[n]; ok {
		return s, nil
	}
	if n.Anchor != "" {
		c.open[n] = true
		defer delete(c.open, n)
	}
	s := treeStat{nodes: 1}
	switch n.Kind {
	case yaml.ScalarNode:
		if len(n.Value) > maxScalarSize {
			return s, c.fail(n, "a scalar of %d bytes, more than the %d MiB berth reads in one", len(n.Value), maxScalarSize>>20)
		}
	case yaml.MappingNode, yaml.SequenceNode:
		if depth+1 > maxSourceDepth {
			return s, c.fail(n, "collections nested more than %d levels deep", maxSourceDepth)
		}
		for _, child := range n.Content {
			cs, err := c.walk(child, depth+1)
			if err != nil {
				return s, err
			}
			s.nodes += cs.nodes
			s.levels = max(s.levels, cs.levels)
			if s.nodes > maxExpandedNodes {
				return s, c.fail(child, "the document has more than %d nodes once aliases are expanded here "+
					"(a \"billion laughs\" YAML bomb?)", maxExpandedNodes)
			}
		}
		s.levels++
	}
	if n.Anchor != "" {
		c.anchored[n] = s
	}
	return s, nil
}

// alias returns the stat of the node alias a names, counted again for
// each alias, as a loader expands it.
func (c *treeChecker) alias(a *yaml.Node, depth int) (treeStat, error) {
	target := a.Alias
	if target == nil {
		return treeStat{nodes: 1}, nil
	}
	if c.open[target] {
		return treeStat{}, c.fail(a, "alias *%s is inside the node it names", a.Value)
	}
	s, ok := c.anchored[target]
	if !ok {
		// An anchor is written before its aliases, so its node has been
		// walked unless it encloses the alias, which open caught. Walk it
		// anyway rather than trust that.
		var err error
		if s, err = c.walk(target, depth); err != nil {
			return s, err
		}
	}
	if depth+s.levels > maxSourceDepth {
		return s, c.fail(a, "alias *%s nests collections more than %d levels deep", a.Value, maxSourceDepth)
	}
	return s, nil
}

func (c *treeChecker) fail(n *yaml.Node, format string, args ...any) error {
	return &sourceLimitError{
		Position: Position{File: c.file, Line: n.Line, Column: n.Column},
		Message:  fmt.Sprintf(format, args...),
	}
}
