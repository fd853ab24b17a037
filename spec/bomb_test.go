package spec

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// billionLaughs is the classic: nine levels of nine aliases each, 9^9
// strings once expanded, from under 1 KiB of YAML.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("x-a0: &a0 [\"lol\"]\n")
	for i := 1; i <= 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("x-a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(prev)
		}
		b.WriteString("]\n")
	}
	b.WriteString("services:\n  web:\n    image: x\n    command: *a9\n")
	return b.String()
}

// Hostile files are refused quickly and without eating memory, whoever
// notices first: the source index, or compose-go's YAML decoder.
func TestLoad_YAMLBombs(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"billion laughs", billionLaughs()},
		{"deep flow nesting", "services:\n  web:\n    image: x\n    labels: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n"},
		{"deep block nesting", "services:\n  web:\n    image: x\n    x-deep:\n" + deepBlock(2000)},
		{"huge file", "services:\n  web:\n    image: x\n    command: \"" + strings.Repeat("a", 8<<20) + "\"\n"},
		{"huge scalar", "services:\n  web:\n    image: x\n    command: [\"" + strings.Repeat("a", 2<<20) + "\"]\n"},
		// What compose-go does with the values costs too (budget.go).
		{"aliased megabyte", aliased(strings.Repeat("a", 1<<20), 1000)},
		{"interpolation defaults", "services:\n  web:\n    image: x\n    user: \"" + strings.Repeat("${A:-x}", 1000) + strings.Repeat("a", 1<<19) + "\"\n"},
		{"every port", "services:\n  web:\n    image: x\n    ports: [\"1-65535:1-65535\"]\n"},
		{"a mapping of 70,000 keys", labels(70000)},
		{"100 services sharing 700 labels", sharedLabels(100, 700)},
		{"one long word to split", "services:\n  web:\n    image: x\n    entrypoint: " + strings.Repeat("a", 64<<10) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeStack(t, map[string]string{"compose.yaml": tt.yaml})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, _, err := Load(context.Background(), Options{WorkingDir: dir})
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			t.Logf("refused in %v, %d MiB allocated: %.200v", took, (after.TotalAlloc-before.TotalAlloc)>>20, err)
			if took > 5*time.Second {
				t.Errorf("took %v to refuse", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 512<<20 {
				t.Errorf("allocated %d MiB to refuse", alloc>>20)
			}
		})
	}
}

// A bomb in a file that the stack file includes or extends is refused as
// well, at its place in that file.
func TestLoad_BombInIncludedFile(t *testing.T) {
	for _, main := range []string{
		"include: [lib/bomb.yaml]\nservices:\n  web:\n    image: x\n",
		"services:\n  web:\n    extends: {file: lib/bomb.yaml, service: web}\n",
	} {
		dir := writeStack(t, map[string]string{"compose.yaml": main, "lib/bomb.yaml": billionLaughs()})
		_, _, err := Load(context.Background(), Options{WorkingDir: dir})
		errs := ValidationErrors(err)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "lib/bomb.yaml:") {
			t.Errorf("got %v, want the bomb refused in lib/bomb.yaml", err)
		}
	}
}

// aliased is a stack whose service has n labels, each an alias of s.
func aliased(s string, n int) string {
	var b strings.Builder
	b.WriteString("x-big: &big \"" + s + "\"\nservices:\n  web:\n    image: x\n    labels:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      l%d: *big\n", i)
	}
	return b.String()
}

// What the limits allow loads quickly.
func TestLoad_BigButReasonable(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"16 KiB command", "services:\n  web:\n    image: x\n    command: " + strings.Repeat("a", 16<<10) + "\n"},
		{"a variable in a 1 MiB string", "services:\n  web:\n    image: x\n    user: \"${A:-x}" + strings.Repeat("a", 1<<20-16) + "\"\n"},
		{"100 aliases of 100 KiB", aliased(strings.Repeat("a", 100<<10), 100)},
		{"1000 services", manyServices(1000)},
		{"4,000 labels", labels(4000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeStack(t, map[string]string{"compose.yaml": tt.yaml})
			start := time.Now()
			if _, _, err := Load(context.Background(), Options{WorkingDir: dir}); err != nil {
				t.Fatalf("%.300v", err)
			}
			// Not a timing goal: a guard against blow-ups, which take
			// minutes or never end; -race on a busy CI machine takes
			// seconds for what is milliseconds otherwise.
			if took := time.Since(start); took > time.Minute {
				t.Errorf("took %v", took)
			}
		})
	}
}

// labels is a stack whose service has n labels.
func labels(n int) string {
	var b strings.Builder
	b.WriteString("services:\n  web:\n    image: x\n    labels:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      l%d: v\n", i)
	}
	return b.String()
}

// sharedLabels is n services that share an anchored mapping of k labels.
func sharedLabels(n, k int) string {
	var b strings.Builder
	b.WriteString("x-labels: &labels\n")
	for i := 0; i < k; i++ {
		fmt.Fprintf(&b, "  l%d: v\n", i)
	}
	b.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    image: x\n    labels: *labels\n", i)
	}
	return b.String()
}

func manyServices(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    image: busybox\n    command: sleep %d\n    environment: [N=%d]\n", i, i, i)
	}
	return b.String()
}

func deepBlock(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString(strings.Repeat(" ", 6+i))
		b.WriteString("k:\n")
	}
	return b.String()
}
