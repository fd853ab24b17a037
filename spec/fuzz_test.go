package spec

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad loads arbitrary stack files: Load must return a stack or an
// error, never panic or hang, and a stack it returns must hash and print.
// `go test` runs the seeds (every sample under testdata); CI also fuzzes
// briefly (make test).
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(billionLaughs()))
	f.Add([]byte("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n"))
	f.Add([]byte("services: {web: {image: \"${X:?}\"}}"))
	f.Add([]byte("x: &a [*a]\n"))
	f.Add([]byte("services:\n  web:\n    image: x\n    ports: [\"1-65535:1-65535\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, _, err := Load(context.Background(), Options{WorkingDir: dir, ProjectName: "fuzz", Environ: []string{"X=1"}})
		if err != nil {
			return
		}
		for _, s := range st.Services {
			s.ConfigHash()
		}
		st.StartOrder()
		if _, err := st.MarshalCompose("json"); err != nil {
			t.Errorf("loaded but does not print: %v", err)
		}
	})
}
