package spec

import (
	"encoding/json"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
)

// composeKeys are the property names of the Compose schema, to suggest one
// for a misspelt key.
var composeKeys = sync.OnceValue(func() map[string]bool {
	keys := map[string]bool{}
	var doc any
	if err := json.Unmarshal([]byte(schema.Schema), &doc); err != nil {
		return keys
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for k := range props {
					keys[k] = true
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	return keys
})

// closestKey returns the Compose key nearest to key, when it is near
// enough to be a typo of it, or "".
func closestKey(key string) string {
	best, bestD := "", 3
	for k := range composeKeys() {
		if d := editDistance(key, k); d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	if bestD > 2 || bestD*3 > len(key) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
