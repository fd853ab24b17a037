package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compose build builds the services with a build section (cached the
// second time); compose pull says which service's image failed.
func TestCLI_ComposeBuildPull(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: cb
services:
  app:
    build: ./app
  other:
    image: 127.0.0.1:9/nothing/here:1
`)
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app", "Dockerfile"), []byte("FROM bb\nRUN echo built > /built\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "compose.yaml")
	_, errOut, code := c.run("compose", "-f", f, "build")
	if code != 0 {
		t.Fatalf("compose build: exit %d\n%s", code, errOut)
	}
	id := strings.TrimSpace(c.must("images", "-q", "cb-app"))
	if id == "" {
		t.Fatal("no image cb-app after compose build")
	}
	out, errOut, code := c.run("compose", "-f", f, "build", "app")
	if code != 0 || !strings.Contains(out+errOut, "CACHED") {
		t.Errorf("a second build: exit %d, not all cached:\n%s%s", code, out, errOut)
	}
	if again := strings.TrimSpace(c.must("images", "-q", "cb-app")); again != id {
		t.Errorf("the second build gave %s, the first %s", again, id)
	}
	if _, errOut, code := c.run("compose", "-f", f, "pull", "other"); code == 0 || !strings.Contains(errOut, `service "other"`) {
		t.Errorf("pull from nowhere: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := c.run("compose", "-f", f, "build", "nosuch"); code == 0 || !strings.Contains(errOut, "no such service") {
		t.Errorf("build of an unknown service: exit %d\n%s", code, errOut)
	}
}
