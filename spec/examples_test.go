package spec

import (
	"context"
	"path/filepath"
	"testing"
)

// TestExamples: every stack under examples/ loads, without a warning, as
// the README promises; the engine's tests run them.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*/compose.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			st, warnings, err := Load(context.Background(), Options{ConfigFiles: []string{f}, Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if len(st.Services) == 0 {
				t.Error("no services")
			}
			for name, s := range st.Services {
				if s.ConfigHash() == "" {
					t.Errorf("%s: no hash", name)
				}
			}
		})
	}
}
