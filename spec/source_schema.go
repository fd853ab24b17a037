package spec

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
)

// The Compose specification's JSON schema, as compose-go ships and
// enforces it, tells a key the specification defines (which berth warns
// about when it does not implement it) from a key it does not (which
// compose-go rejects with an error of its own, so a warning would only
// repeat it, and wrongly say "berth does not implement" of a typo). Only
// what that takes is read of the schema: the keys objects declare, their
// patterns, whether they are closed to other keys, and array items,
// through $ref, allOf, anyOf and oneOf. Where the reading loses track (no
// schema, or one that is not closed), every key counts as defined, so the
// doubt is resolved by warning.

// jsonSchema is the subset of a JSON schema (draft 2020-12) read here.
type jsonSchema struct {
	Ref                   string                 `json:"$ref"`
	Defs                  map[string]*jsonSchema `json:"$defs"`
	Properties            map[string]*jsonSchema `json:"properties"`
	PatternProperties     map[string]*jsonSchema `json:"patternProperties"`
	AdditionalProperties  *schemaOrBool          `json:"additionalProperties"`
	UnevaluatedProperties *schemaOrBool          `json:"unevaluatedProperties"`
	Items                 *schemaOrBool          `json:"items"`
	AllOf                 []*jsonSchema          `json:"allOf"`
	AnyOf                 []*jsonSchema          `json:"anyOf"`
	OneOf                 []*jsonSchema          `json:"oneOf"`

	patterns []schemaPattern // PatternProperties compiled
}

type schemaPattern struct {
	re     *regexp.Regexp // nil when Go cannot compile it: it then matches all
	schema *jsonSchema
}

// schemaOrBool is a schema or its boolean shorthand (false: nothing is
// allowed; true: anything is).
type schemaOrBool struct {
	schema *jsonSchema
	allow  bool
}

func (s *schemaOrBool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case "true":
		s.allow = true
		return nil
	case "false":
		return nil
	}
	s.allow = true
	s.schema = &jsonSchema{}
	return json.Unmarshal(b, s.schema)
}

func (s *schemaOrBool) closed() bool { return s != nil && !s.allow }

// composeSchema is compose-go's schema, parsed once; nil if it cannot be,
// and then every key counts as defined.
var composeSchema = sync.OnceValue(func() *jsonSchema {
	var root jsonSchema
	if err := json.Unmarshal([]byte(schema.Schema), &root); err != nil {
		return nil
	}
	root.compile(map[*jsonSchema]bool{})
	return &root
})

func (s *jsonSchema) compile(done map[*jsonSchema]bool) {
	if s == nil || done[s] {
		return
	}
	done[s] = true
	for p, sub := range s.PatternProperties {
		re, err := regexp.Compile(p)
		if err != nil {
			re = nil
		}
		s.patterns = append(s.patterns, schemaPattern{re: re, schema: sub})
	}
	for _, m := range []map[string]*jsonSchema{s.Defs, s.Properties, s.PatternProperties} {
		for _, sub := range m {
			sub.compile(done)
		}
	}
	for _, sb := range []*schemaOrBool{s.AdditionalProperties, s.UnevaluatedProperties, s.Items} {
		if sb != nil {
			sb.schema.compile(done)
		}
	}
	for _, l := range [][]*jsonSchema{s.AllOf, s.AnyOf, s.OneOf} {
		for _, sub := range l {
			sub.compile(done)
		}
	}
}

// schemaSet is a place in the schema: the schemas a value there may have
// to match, with $ref, allOf, anyOf and oneOf flattened. Empty means lost
// track.
type schemaSet []*jsonSchema

// rootSchemas is the place of a document's root.
func rootSchemas() schemaSet {
	root := composeSchema()
	if root == nil {
		return nil
	}
	return flattenSchemas(root, schemaSet{root}, root)
}

// flattenSchemas appends to out s and every schema that s refers to or
// combines, each once.
func flattenSchemas(root *jsonSchema, out schemaSet, s ...*jsonSchema) schemaSet {
	for _, x := range s {
		if x == nil {
			continue
		}
		if x.Ref != "" {
			name, ok := strings.CutPrefix(x.Ref, "#/$defs/")
			if target := root.Defs[name]; ok && target != nil && !out.has(target) {
				out = append(out, target)
				out = flattenSchemas(root, out, target)
			}
		}
		for _, l := range [][]*jsonSchema{x.AllOf, x.AnyOf, x.OneOf} {
			for _, sub := range l {
				if sub != nil && !out.has(sub) {
					out = append(out, sub)
					out = flattenSchemas(root, out, sub)
				}
			}
		}
	}
	return out
}

func (set schemaSet) has(s *jsonSchema) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

// key returns the place of key's value, and whether the specification
// defines key here.
func (set schemaSet) key(key string) (schemaSet, bool) {
	if len(set) == 0 {
		return nil, true
	}
	var subs []*jsonSchema
	declared, closed := false, false
	for _, s := range set {
		found := false
		if sub, ok := s.Properties[key]; ok {
			subs, found = append(subs, sub), true
		}
		for _, p := range s.patterns {
			if p.re == nil || p.re.MatchString(key) {
				subs, found = append(subs, p.schema), true
			}
		}
		if !found {
			for _, other := range []*schemaOrBool{s.AdditionalProperties, s.UnevaluatedProperties} {
				if other != nil && other.allow {
					found = true
					if other.schema != nil {
						subs = append(subs, other.schema)
					}
				}
			}
		}
		declared = declared || found
		closed = closed || s.AdditionalProperties.closed() || s.UnevaluatedProperties.closed()
	}
	if !declared && closed {
		return nil, false
	}
	return flattenSchemas(composeSchema(), schemaSet(subs), subs...), true
}

// items returns the place of the items of an array here.
func (set schemaSet) items() schemaSet {
	var subs []*jsonSchema
	for _, s := range set {
		if s.Items != nil && s.Items.schema != nil {
			subs = append(subs, s.Items.schema)
		}
	}
	return flattenSchemas(composeSchema(), schemaSet(subs), subs...)
}
