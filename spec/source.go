package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v4"
)

// Position is a place in a stack file.
type Position struct {
	// File is the file's name as the caller gave it to indexSources:
	// relative to the working directory or absolute, kept as it is.
	File string
	// Line and Column count from 1; 0 means unknown.
	Line, Column int
}

// String reads "compose.yaml:12:5", or "compose.yaml:12" without a column,
// or "compose.yaml" without a line.
func (p Position) String() string {
	switch {
	case p.Line <= 0:
		return p.File
	case p.Column <= 0:
		return p.File + ":" + strconv.Itoa(p.Line)
	default:
		return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
	}
}

// sourceFile is one stack file as read: its name (the File of every
// Position in it) and its bytes.
type sourceFile struct {
	Name string
	Data []byte
}

// sourceIndex knows where every mapping key and sequence item of the stack
// files was written, as written: before interpolation, merging, extends or
// defaults. It keeps each file's YAML node tree, which holds the positions.
type sourceIndex struct {
	files []*sourceTree // in merge order: later files win
}

// sourceTree is one parsed file.
type sourceTree struct {
	name string
	docs []*yaml.Node // the root node of each YAML document, in order
	// keys indexes the mappings with many keys (key -> index of the key
	// node in Content), so that looking up each service of a file with
	// thousands of them stays linear; small mappings are scanned.
	keys map[*yaml.Node]map[string]int
}

// indexSources parses each file once and indexes every mapping key and
// sequence item. files are in the order they are merged: a key set in a
// later file wins over the same key in an earlier one. A file may hold
// several YAML documents ("---"); they merge in order too, as compose-go
// merges them.
//
// It refuses YAML bombs, before compose-go reads the same bytes, with an
// error naming the file and, where there is one, the line: a file larger than maxSourceSize, with
// more than maxSourceTokens words and punctuation marks or more than
// maxFlowPunctuation commas and brackets, collections nested deeper than
// maxSourceDepth, a scalar larger than maxScalarSize, aliases that expand
// a document to more than maxExpandedNodes nodes (billion laughs), or an
// alias inside the node it names. Its time and memory stay bounded: at
// worst a second or two and 200 MB a file; see source_limits.go for why
// these limits.
func indexSources(files []sourceFile) (*sourceIndex, error) {
	ix := &sourceIndex{}
	for _, f := range files {
		t, err := parseSource(f)
		if err != nil {
			return nil, err
		}
		ix.files = append(ix.files, t)
	}
	return ix, nil
}

func parseSource(f sourceFile) (*sourceTree, error) {
	if err := checkSourceText(f); err != nil {
		return nil, err
	}
	t := &sourceTree{name: f.Name, keys: map[*yaml.Node]map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if err := checkSourceTree(f.Name, root); err != nil {
			return nil, err
		}
		t.indexKeys(root)
		t.docs = append(t.docs, root)
	}
	return t, nil
}

// bigMapping is the number of keys from which a mapping gets a map for
// its lookups; below it a scan is as fast.
const bigMapping = 16

// indexKeys builds keys for the big mappings under n. Aliases are not
// followed: the node they name is indexed where it was written.
func (t *sourceTree) indexKeys(n *yaml.Node) {
	if n.Kind == yaml.MappingNode && len(n.Content) >= 2*bigMapping {
		m := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := deref(n.Content[i]); k.Kind == yaml.ScalarNode && !isMergeKey(k) {
				m[k.Value] = i // the last of duplicate keys wins
			}
		}
		t.keys[n] = m
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		for _, c := range n.Content {
			t.indexKeys(c)
		}
	}
}

// lookup returns where the value at path (e.g. "services", "web", "ports",
// "0") was written: for a mapping key the position of the key, for a
// sequence item that of the item. Path elements are keys as written and
// decimal indexes of sequence items as written in that one file (not in
// the merged stack: compose-go appends and deduplicates sequences across
// files). Files are searched from the last to the first, so the later file
// that set it wins; ok is false if no file has path. Keys that a mapping
// gets from a merge key (<<: *anchor) resolve to where the anchor's content
// was written, and a path through an alias continues in the anchored node.
// An empty path is the root of the last file.
func (ix *sourceIndex) lookup(path ...string) (Position, bool) {
	for i := len(ix.files) - 1; i >= 0; i-- {
		t := ix.files[i]
		for j := len(t.docs) - 1; j >= 0; j-- {
			if n, ok := t.find(t.docs[j], path); ok {
				return Position{File: t.name, Line: n.Line, Column: n.Column}, true
			}
		}
	}
	return Position{}, false
}

// find walks path from n and returns the node whose position path has:
// the key node of a mapping entry, or the item of a sequence.
func (t *sourceTree) find(n *yaml.Node, path []string) (*yaml.Node, bool) {
	at := n
	for _, p := range path {
		n = deref(n)
		switch n.Kind {
		case yaml.MappingNode:
			k, v := t.entry(n, p, nil)
			if k == nil {
				return nil, false
			}
			at, n = k, v
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n.Content) || strconv.Itoa(i) != p {
				return nil, false
			}
			at, n = n.Content[i], n.Content[i]
		default:
			return nil, false
		}
	}
	return at, true
}

// entry returns the key and value nodes of key in mapping m, looking in
// its merge keys after its own keys, as YAML merges: own keys win, then
// the merged mappings in the order listed. seen guards against a mapping
// that merges itself and keeps the walk linear when anchors are merged
// many times over.
func (t *sourceTree) entry(m *yaml.Node, key string, seen map[*yaml.Node]bool) (k, v *yaml.Node) {
	if seen[m] {
		return nil, nil
	}
	if idx, ok := t.keys[m]; ok {
		if i, ok := idx[key]; ok {
			return m.Content[i], m.Content[i+1]
		}
	} else {
		for i := len(m.Content) - 2; i >= 0; i -= 2 {
			if c := deref(m.Content[i]); c.Kind == yaml.ScalarNode && c.Value == key && !isMergeKey(c) {
				return m.Content[i], m.Content[i+1]
			}
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) {
			continue
		}
		if seen == nil {
			seen = map[*yaml.Node]bool{}
		}
		seen[m] = true
		for _, src := range mergeSources(m.Content[i+1]) {
			if k, v := t.entry(src, key, seen); k != nil {
				return k, v
			}
		}
	}
	return nil, nil
}

// mergeSources returns the mappings that the value of a merge key merges:
// one mapping, or a sequence of them.
func mergeSources(v *yaml.Node) []*yaml.Node {
	v = deref(v)
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range v.Content {
			if c = deref(c); c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	return nil
}

// deref returns the node an alias names, or n itself. An alias never names
// another alias, so one step is enough.
func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// isMergeKey tells the merge key "<<" (written plain, not quoted).
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Tag == "!!merge"
}
