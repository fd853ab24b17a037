package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI_SaveLoadRun saves two images to a file and to stdout, loads
// them into another root from the file and from stdin, and runs one.
func TestCLI_SaveLoadRun(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1")
	c.must("tag", "bb:1", "localhost:5000/team/bb:2")
	archive := filepath.Join(t.TempDir(), "bb.tar")
	if out := c.must("image", "save", "-o", archive, "bb:1", "localhost:5000/team/bb:2"); out != "" {
		t.Errorf("save printed %q", out)
	}
	stdout, _, code := c.run("save", "bb:1")
	if code != 0 || len(stdout) < 500_000 {
		t.Fatalf("save to stdout: exit %d, %d bytes", code, len(stdout))
	}

	// Other roots, each in a network namespace of its own: two roots in
	// one namespace would share (and fight over) one nftables table.
	other := newCLI(t)
	out := other.must("load", "-i", archive)
	if out != "Loaded image: bb:1\nLoaded image: localhost:5000/team/bb:2\n" {
		t.Errorf("load printed %q", out)
	}
	if got := other.must("run", "--rm", "localhost:5000/team/bb:2", "echo", "loaded"); got != "loaded\n" {
		t.Errorf("run of the loaded image: %q", got)
	}
	id := strings.TrimSpace(c.must("images", "-q"))
	if got := strings.TrimSpace(other.must("images", "-q")); got != id {
		t.Errorf("image id %q after load, %q before", got, id)
	}
	third := newCLI(t)
	if out, errs, code := third.runIn(strings.NewReader(stdout), "image", "load"); code != 0 || out != "Loaded image: bb:1\n" {
		t.Errorf("load from stdin: exit %d, %q %q", code, out, errs)
	}

	// Errors: a missing image saves nothing; a file that is no archive
	// loads nothing.
	if _, errs, code := c.run("save", "-o", archive+".2", "nope:1"); code == 0 || !strings.Contains(errs, `"nope:1"`) {
		t.Errorf("save of a missing image: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(archive + ".2"); !os.IsNotExist(err) {
		t.Errorf("a failed save left %s: %v", archive+".2", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(archive), ".*")); len(left) != 0 {
		t.Errorf("a failed save left %q", left)
	}
	if _, errs, code := third.runIn(bytes.NewReader(bytes.Repeat([]byte("x"), 2048)), "load"); code == 0 || !strings.Contains(errs, "loading images") {
		t.Errorf("load of junk: exit %d, %q", code, errs)
	}
}
