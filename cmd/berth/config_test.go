package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs berth in dir, without --root: config needs none.
func berthIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(berthBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMPOSE_FILE=", "COMPOSE_PROJECT_NAME=", "COMPOSE_PROFILES=")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func writeStack(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shop")
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCLI_Config(t *testing.T) {
	dir := writeStack(t, map[string]string{
		"compose.yaml": `services:
  web:
    image: nginx:${TAG:-1.27}
    ports: ["8080:80"]
    depends_on: [db]
    profiles: [front]
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: $$ecret
    volumes: [data:/var/lib/postgresql/data]
  tools:
    build: ./tools
    profiles: [debug]
volumes:
  data: {}
`,
		".env":          "TAG=1.26\n",
		"tools/.keep":   "",
		"sub/dir/.keep": "",
	})
	// Found from a subdirectory, as docker compose finds it; .env applies.
	out, errs, code := berthIn(t, filepath.Join(dir, "sub", "dir"), "config", "--profile", "front")
	if code != 0 || !strings.Contains(out, "name: shop") || !strings.Contains(out, "image: nginx:1.26") || !strings.Contains(out, "POSTGRES_PASSWORD: $$ecret") {
		t.Fatalf("config: exit %d\n%s%s", code, out, errs)
	}
	out, _, _ = berthIn(t, dir, "config", "--format", "json", "--profile", "front")
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["services"].(map[string]any)["web"] == nil {
		t.Errorf("config --format json: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--services"}, "db\n"},
		{[]string{"--services", "--profile", "front", "--profile", "debug"}, "db\ntools\nweb\n"},
		{[]string{"--volumes"}, "data\n"},
		{[]string{"--profiles"}, "debug\nfront\n"},
		{[]string{"--images", "--profile", "debug"}, "postgres:16\nshop-tools\n"},
		{[]string{"-q"}, ""},
		{[]string{"-p", "other", "--images", "--profile", "debug"}, "postgres:16\nother-tools\n"},
	} {
		if out, errs, code := berthIn(t, dir, append([]string{"config"}, c.args...)...); code != 0 || out != c.want {
			t.Errorf("config %v: exit %d, %q, want %q\n%s", c.args, code, out, c.want, errs)
		}
	}
	// Hashes: one line per service, stable, and changed by what changes
	// the container.
	hashes, _, _ := berthIn(t, dir, "config", "--hash", "*")
	if lines := strings.Split(strings.TrimSpace(hashes), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "db ") || len(lines[0]) != 3+64 {
		t.Errorf("--hash *: %q", hashes)
	}
	if again, _, _ := berthIn(t, dir, "config", "--hash", "db"); again != hashes {
		t.Errorf("hash changed between runs: %q %q", hashes, again)
	}
	if other, _, _ := berthIn(t, dir, "config", "--hash", "db", "-f", "compose.yaml", "--env-file", "/dev/null"); other != hashes {
		t.Errorf("db's hash depends on TAG, which only web uses: %q %q", hashes, other)
	}
	if _, errs, code := berthIn(t, dir, "config", "--hash", "nope"); code == 0 || !strings.Contains(errs, `no service "nope"`) {
		t.Errorf("--hash nope: exit %d, %q", code, errs)
	}
}

func TestCLI_ConfigErrors(t *testing.T) {
	dir := writeStack(t, map[string]string{"compose.yaml": `services:
  web:
    image: nginx
    gpus: all
    depends_on: [api]
  api:
    image: api
    depends_on: [web]
`})
	out, errs, code := berthIn(t, dir, "config", "-q")
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		"warning: compose.yaml:4:5: services.web.gpus: berth does not implement gpus",
		"error: compose.yaml:",
		"depends_on cycle: ",
		"hint:  ",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	// --strict: the unimplemented key is an error too.
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services:\n  web:\n    image: nginx\n    gpus: all\n"), 0o644)
	if _, _, code := berthIn(t, dir, "config", "-q"); code != 0 {
		t.Errorf("a warning failed config: exit %d", code)
	}
	if _, errs, code := berthIn(t, dir, "config", "-q", "--strict"); code != 1 || !strings.Contains(errs, "error: compose.yaml:4:5: services.web.gpus") {
		t.Errorf("--strict: exit %d, %q", code, errs)
	}
	if _, errs, code := berthIn(t, t.TempDir(), "config"); code != 1 || !strings.Contains(errs, "no compose.yaml") || !strings.Contains(errs, "hint:") {
		t.Errorf("no stack file: exit %d, %q", code, errs)
	}
}
