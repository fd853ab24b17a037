package spec

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with
// -update. Absolute paths into testdata read "$TESTDATA", so the files do
// not depend on where the repository is.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	got = []byte(strings.ReplaceAll(string(got), abs, "$TESTDATA"))
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./spec -run %s -update to create it)", err, t.Name())
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from what was loaded (go test ./spec -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// load loads with a clean environment plus env.
func load(t *testing.T, o Options, env ...string) (*Stack, []Warning) {
	t.Helper()
	o.Environ = append([]string{"PATH=/usr/bin"}, env...)
	st, ws, err := Load(context.Background(), o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st, ws
}

// The sample stacks load as Docker Compose loads them: golden files hold
// the Stack berth runs and the output of `berth config`.
func TestLoad_Samples(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		env  []string
	}{
		{name: "full", o: Options{WorkingDir: "testdata/full"}, env: []string{"FROM_ENV=from-process", "TLS_CERT=pem"}},
		{name: "webstack", o: Options{WorkingDir: "testdata/webstack"}},
		{name: "webstack-env-wins", o: Options{WorkingDir: "testdata/webstack"}, env: []string{"TAG=2.0.0", "POSTGRES_PASSWORD=from-process"}},
		{name: "extends", o: Options{WorkingDir: "testdata/extends"}},
		{name: "include", o: Options{WorkingDir: "testdata/include"}},
		{name: "profiles-none", o: Options{WorkingDir: "testdata/profiles"}},
		{name: "profiles-debug", o: Options{WorkingDir: "testdata/profiles", Profiles: []string{"debug"}}},
		{name: "profiles-env", o: Options{WorkingDir: "testdata/profiles"}, env: []string{"COMPOSE_PROFILES=tools"}},
		{name: "override", o: Options{WorkingDir: "testdata/override"}},
		{name: "multi", o: Options{WorkingDir: "testdata", ConfigFiles: []string{"multi/base.yaml", "multi/prod.yaml"}}},
		{name: "anchors", o: Options{WorkingDir: "testdata/anchors", ProjectName: "anchored"}},
		{name: "envfile", o: Options{WorkingDir: "testdata/envfile"}},
		{name: "envfile-flag", o: Options{WorkingDir: "testdata/envfile", EnvFiles: []string{"prod.env"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := load(t, tt.o, tt.env...)
			b, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".json", append(b, '\n'))
			y, err := st.MarshalCompose("yaml")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".config.yaml", y)
		})
	}
}
