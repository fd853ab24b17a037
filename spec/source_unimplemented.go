package spec

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Warning is something in a stack file the user should know of that does
// not stop the load, such as a key berth does not implement.
type Warning struct {
	// Position is where the key (or, for a value berth does not
	// implement, the value) was written.
	Position Position
	// Key is the key's path, as "services.web.gpus" or
	// "services.web.ports[0].mode".
	Key string
	// Message says what berth does about it.
	Message string
}

// String reads "compose.yaml:12:5: services.web.gpus: berth does not
// implement gpus; it is ignored".
func (w Warning) String() string {
	var b strings.Builder
	if s := w.Position.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if w.Key != "" {
		b.WriteString(w.Key)
		b.WriteString(": ")
	}
	b.WriteString(w.Message)
	return b.String()
}

// unimplemented returns a Warning for each key that the Compose
// specification defines but berth does not implement (see
// berthImplements), for each value berth implements only some of
// (network, volume and logging drivers) written with another, and for
// `version`, which is obsolete. Keys the specification does not define
// are left to compose-go, which rejects them. Keys written inside an
// anchored node are reported once, where they were written, under the
// first path that reaches them. Warnings are sorted by file (in the order
// given to indexSources), line and column.
func (ix *sourceIndex) unimplemented() []Warning {
	u := &unimplementedWalk{walked: map[shapeVisit]bool{}}
	for fi, t := range ix.files {
		u.file, u.fileIndex = t.name, fi
		for _, doc := range t.docs {
			u.walk(doc, berthImplements, rootSchemas(), "")
		}
	}
	slices.SortStableFunc(u.found, func(a, b foundWarning) int {
		return cmp.Or(
			cmp.Compare(a.fileIndex, b.fileIndex),
			cmp.Compare(a.Position.Line, b.Position.Line),
			cmp.Compare(a.Position.Column, b.Position.Column),
			strings.Compare(a.Key, b.Key),
		)
	})
	out := make([]Warning, len(u.found))
	for i, f := range u.found {
		out[i] = f.Warning
	}
	return out
}

type foundWarning struct {
	Warning
	fileIndex int
}

// shapeVisit is a node walked with a shape: walking it again (an anchor
// merged or aliased again) would only repeat its warnings.
type shapeVisit struct {
	node  *yaml.Node
	shape *keyShape
}

type unimplementedWalk struct {
	file      string
	fileIndex int
	walked    map[shapeVisit]bool
	found     []foundWarning
}

// walk checks n, the value at path (as "services.web"), against what
// berth implements there (shape) and what the specification defines
// there (schemas).
func (u *unimplementedWalk) walk(n *yaml.Node, shape *keyShape, schemas schemaSet, path string) {
	n = deref(n)
	if shape == nil || u.walked[shapeVisit{n, shape}] {
		return
	}
	u.walked[shapeVisit{n, shape}] = true
	switch n.Kind {
	case yaml.ScalarNode:
		u.value(n, shape, path)
	case yaml.SequenceNode:
		if shape.items != nil {
			sub := schemas.items()
			for i, item := range n.Content {
				u.walk(item, shape.items, sub, path+"["+strconv.Itoa(i)+"]")
			}
		}
	case yaml.MappingNode:
		u.mapping(n, shape, schemas, path)
	}
}

func (u *unimplementedWalk) mapping(m *yaml.Node, shape *keyShape, schemas schemaSet, path string) {
	if shape.fields == nil && shape.names == nil {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if isMergeKey(k) {
			for _, src := range mergeSources(v) {
				u.walk(src, shape, schemas, path)
			}
			continue
		}
		if k = deref(k); k.Kind != yaml.ScalarNode || strings.HasPrefix(k.Value, "x-") {
			continue
		}
		if v.Tag == "!reset" {
			continue // it unsets the key, which is all berth does with it too
		}
		name := k.Value
		keyPath := name
		if path != "" {
			keyPath = path + "." + name
		}
		sub, defined := schemas.key(name)
		if shape.names != nil {
			u.walk(v, shape.names, sub, keyPath)
			continue
		}
		child, ok := shape.fields[name]
		switch {
		case ok && child != nil && child.obsolete != "":
			u.add(k, keyPath, child.obsolete)
		case ok:
			u.walk(v, child, sub, keyPath)
		case defined:
			u.add(k, keyPath, fmt.Sprintf("berth does not implement %s; it is ignored", name))
		}
	}
}

// value warns about a scalar berth implements only some values of.
func (u *unimplementedWalk) value(n *yaml.Node, shape *keyShape, path string) {
	if len(shape.values) == 0 || n.Tag == "!!null" || slices.Contains(shape.values, n.Value) || strings.Contains(n.Value, "$") {
		return
	}
	quoted := make([]string, len(shape.values))
	for i, v := range shape.values {
		quoted[i] = strconv.Quote(v)
	}
	u.add(n, path, fmt.Sprintf("berth implements only %s; %q is ignored", strings.Join(quoted, " and "), n.Value))
}

func (u *unimplementedWalk) add(n *yaml.Node, path, msg string) {
	u.found = append(u.found, foundWarning{
		Warning: Warning{
			Position: Position{File: u.file, Line: n.Line, Column: n.Column},
			Key:      path,
			Message:  msg,
		},
		fileIndex: u.fileIndex,
	})
}
