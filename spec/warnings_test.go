package spec

import (
	"context"
	"strings"
	"testing"
)

const unimplementedStack = `version: "3.8"
services:
  web:
    image: nginx
    gpus: all
    environment:
      TAG: $TAG
`

// Keys berth does not implement are reported by name and place, never
// dropped in silence; --strict makes them errors.
func TestLoad_Warnings(t *testing.T) {
	dir := writeStack(t, map[string]string{"compose.yaml": unimplementedStack})
	_, ws := load(t, Options{WorkingDir: dir})
	var got []string
	for _, w := range ws {
		got = append(got, w.String())
	}
	want := []string{
		"compose.yaml:1:1: version:",
		"compose.yaml:5:5: services.web.gpus:",
		`compose.yaml:7:12: the "TAG" variable is not set`,
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d:\n got %s\nwant %s...", i, got[i], want[i])
		}
	}
}

func TestLoad_Strict(t *testing.T) {
	dir := writeStack(t, map[string]string{"compose.yaml": unimplementedStack})
	_, ws, err := Load(context.Background(), Options{WorkingDir: dir, Strict: true})
	errs := ValidationErrors(err)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "compose.yaml:5:5: services.web.gpus:") {
		t.Fatalf("got %v, want the gpus key as the one error", err)
	}
	if !strings.Contains(errs[0].Hint, "--strict") {
		t.Errorf("hint %q", errs[0].Hint)
	}
	if len(ws) != 2 {
		t.Errorf("warnings %v: want version and TAG to stay warnings", ws)
	}
}
