package main

import (
	"strings"
	"testing"
)

// compose exec runs in a replica picked by --index; scale changes one
// service's replicas and nothing else; wait prints the exit codes.
func TestCLI_ComposeExecScaleWait(t *testing.T) {
	c := newCLI(t)
	_, f := c.composeStack(`name: cx
services:
  web:
    image: bb
    command: ["sleep", "1000"]
    deploy:
      replicas: 2
  job:
    image: bb
    command: ["sh", "-c", "sleep 0.5; exit 4"]
`)
	out := c.must("compose", "-f", f, "exec", "--index", "2", "web", "hostname")
	if want := strings.TrimSpace(c.must("inspect", "-f", "{{.Config.Hostname}}", "cx-web-2")); strings.TrimSpace(out) != want {
		t.Errorf("exec --index 2 ran on %q, want cx-web-2's %q", out, want)
	}
	if _, errOut, code := c.run("compose", "-f", f, "exec", "web", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec's exit code %d, want 7 (%s)", code, errOut)
	}
	if _, errOut, code := c.run("compose", "-f", f, "exec", "--index", "5", "web", "true"); code == 0 || !strings.Contains(errOut, "no replica 5") {
		t.Errorf("exec of a missing replica: exit %d, %s", code, errOut)
	}

	web1 := c.must("inspect", "-f", "{{.Id}}", "cx-web-1")
	c.must("compose", "-f", f, "scale", "web=3")
	c.must("inspect", "cx-web-3")
	if got := c.must("inspect", "-f", "{{.Id}}", "cx-web-1"); got != web1 {
		t.Error("scale recreated web-1")
	}
	c.must("compose", "-f", f, "scale", "web=1")
	if _, _, code := c.run("inspect", "cx-web-2"); code == 0 {
		t.Error("cx-web-2 is still there after scale web=1")
	}

	out, _, code := c.run("compose", "-f", f, "wait", "job")
	if strings.TrimSpace(out) != "4" || code != 4 {
		t.Errorf("wait job: %q, exit %d; want 4", out, code)
	}
}
