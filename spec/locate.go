package spec

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v4"
)

// lookupItem returns where value was written as an item of the list at
// path (a mapping path, no indexes): depends_on: [db] or networks:
// [front], whose items have no key of their own. Files are searched from
// the last to the first, as lookup does.
func (ix *sourceIndex) lookupItem(value string, path ...string) (Position, bool) {
	for i := len(ix.files) - 1; i >= 0; i-- {
		t := ix.files[i]
		for j := len(t.docs) - 1; j >= 0; j-- {
			n := t.docs[j]
			for _, p := range path {
				if n = deref(n); n.Kind != yaml.MappingNode {
					n = nil
					break
				}
				if _, n = t.entry(n, p, nil); n == nil {
					break
				}
			}
			if n == nil {
				continue
			}
			if n = deref(n); n.Kind != yaml.SequenceNode {
				continue
			}
			for _, it := range n.Content {
				if it = deref(it); it.Kind == yaml.ScalarNode && it.Value == value {
					return Position{File: t.name, Line: it.Line, Column: it.Column}, true
				}
			}
		}
	}
	return Position{}, false
}

// failItem is fail for the entry name of the mapping or list at path
// (depends_on, networks), which may be written either way.
func (l *loading) failItem(path []string, name, hint, format string, args ...any) *ValidationError {
	full := append(slices.Clone(path), name)
	ve := l.fail(full, hint, format, args...)
	if _, ok := l.ix.lookup(full...); ok {
		return ve
	}
	if p, ok := l.ix.lookupItem(name, path...); ok {
		ve.Position = p
	}
	return ve
}

// failItem is loading.failItem, collected.
func (c *converter) failItem(path []string, name, hint, format string, args ...any) {
	c.errs = append(c.errs, c.l.failItem(path, name, hint, "%s", fmt.Sprintf(format, args...)))
}
