package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// compose cp copies in and out of the replica --index picks, also when it
// has stopped.
func TestCLI_ComposeCp(t *testing.T) {
	c := newCLI(t)
	_, f := c.composeStack(`name: cpx
services:
  web:
    image: bb
    command: ["sh", "-c", "hostname > /me; sleep 1000"]
    deploy:
      replicas: 2
`)
	host := t.TempDir()
	cpWrite(t, filepath.Join(host, "in"), "to web-2\n")
	c.must("compose", "-f", f, "cp", "--index", "2", filepath.Join(host, "in"), "web:/tmp/")
	if out := c.must("exec", "cpx-web-2", "cat", "/tmp/in"); out != "to web-2\n" {
		t.Errorf("compose cp --index 2 in: web-2 has %q", out)
	}
	if _, _, code := c.run("exec", "cpx-web-1", "test", "-e", "/tmp/in"); code == 0 {
		t.Error("compose cp --index 2 also wrote to web-1")
	}
	want := c.must("exec", "cpx-web-2", "cat", "/me")
	c.must("compose", "-f", f, "stop", "-t", "1", "web")
	c.must("compose", "-f", f, "cp", "--index", "2", "web:/me", filepath.Join(host, "me"))
	if got := cpRead(t, filepath.Join(host, "me")); got != want {
		t.Errorf("compose cp out of the stopped web-2: %q, want %q", got, want)
	}
	if _, errs, code := c.run("compose", "-f", f, "cp", "--index", "3", "web:/me", host); code == 0 || !strings.Contains(errs, "no replica 3") {
		t.Errorf("compose cp from a missing replica: exit %d, %s", code, errs)
	}
	if _, errs, code := c.run("compose", "-f", f, "cp", "nosuch:/me", host); code == 0 || !strings.Contains(errs, "no such service") {
		t.Errorf("compose cp from a missing service: exit %d, %s", code, errs)
	}
}
