package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const tickerCmd = "while :; do echo tick; sleep 0.02; done"

// pause freezes a container (ps, inspect, no more output, no exec),
// unpause lets it go on; stop and rm -f of a paused container work.
func TestCLI_PauseUnpause(t *testing.T) {
	c := newCLI(t)
	c.must("run", "-d", "--name", "p", "--rootfs", c.rootfs, "--", "sh", "-c", tickerCmd)
	ticks := func() int { return strings.Count(c.must("logs", "p"), "tick") }
	waitFor(t, "the first ticks", func() bool { return ticks() >= 3 })

	if out := c.must("pause", "p"); out != "p\n" {
		t.Errorf("pause printed %q", out)
	}
	if got := c.must("inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.State.Paused}}", "p"); got != "paused true true\n" {
		t.Errorf("inspect of a paused container: %q", got)
	}
	if ps := c.must("ps"); !strings.Contains(ps, "(Paused)") || !strings.Contains(ps, " p\n") {
		t.Errorf("ps does not show p as paused:\n%s", ps)
	}
	before := ticks()
	time.Sleep(300 * time.Millisecond)
	if after := ticks(); after != before {
		t.Errorf("paused container went on: %d ticks, then %d", before, after)
	}
	if _, errOut, code := c.run("exec", "p", "true"); code == 0 || !strings.Contains(errOut, "paused") || !strings.Contains(errOut, "berth unpause") {
		t.Errorf("exec in a paused container: exit %d, %s", code, errOut)
	}
	if _, errOut, code := c.run("pause", "p"); code != 1 || !strings.Contains(errOut, "paused") {
		t.Errorf("pause of a paused container: exit %d, %s", code, errOut)
	}

	if out := c.must("unpause", "p"); out != "p\n" {
		t.Errorf("unpause printed %q", out)
	}
	if got := c.must("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "p"); got != "running false\n" {
		t.Errorf("inspect after unpause: %q", got)
	}
	if ps := c.must("ps"); strings.Contains(ps, "Paused") {
		t.Errorf("ps after unpause:\n%s", ps)
	}
	waitFor(t, "ticks after unpause", func() bool { return ticks() >= before+3 })
	if _, errOut, code := c.run("unpause", "p"); code != 1 || !strings.Contains(errOut, "not paused") {
		t.Errorf("unpause of a running container: exit %d, %s", code, errOut)
	}

	// stop of a paused container: thawed, so sh handles SIGTERM.
	c.must("pause", "p")
	start := time.Now()
	c.must("stop", "-t", "5", "p")
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stop of a paused container took %s", d)
	}
	if got := c.must("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "p"); got != "exited false\n" {
		t.Errorf("inspect after stop: %q", got)
	}
	c.must("rm", "p")

	c.must("run", "-d", "--name", "q", "--rootfs", c.rootfs, "--", "sleep", "100")
	c.must("pause", "q")
	if _, errOut, code := c.run("rm", "q"); code == 0 || !strings.Contains(errOut, "running") {
		t.Errorf("rm of a paused container: exit %d, %s", code, errOut)
	}
	c.must("rm", "-f", "q")
	if out := c.must("ps", "-a", "-q"); out != "" {
		t.Errorf("left after rm -f: %q", out)
	}
}

// compose pause freezes the services' running replicas, which the engine
// keeps counting as running (it replaces none); unpause thaws them.
func TestCLI_ComposePauseUnpause(t *testing.T) {
	c := newCLI(t)
	_, f := c.composeStack(fmt.Sprintf(`name: cpause
services:
  app:
    image: bb
    command: %s
    deploy:
      replicas: 2
  db:
    image: bb
    command: %s
`, composeLoop, composeLoop))
	ids := func(args ...string) string {
		return c.must(append([]string{"compose", "-f", f, "ps", "-q"}, args...)...)
	}
	before := ids()

	_, errOut, code := c.run("compose", "-f", f, "pause", "app")
	if code != 0 || !strings.Contains(errOut, " Container cpause-app-1  Paused") || !strings.Contains(errOut, " Container cpause-app-2  Paused") || strings.Contains(errOut, "db") {
		t.Fatalf("pause app: exit %d\n%s", code, errOut)
	}
	if got := c.must("compose", "-f", f, "ps", "--services", "--status", "paused"); got != "app\n" {
		t.Errorf("paused services: %q", got)
	}
	if ps := c.must("compose", "-f", f, "ps"); strings.Count(ps, "(Paused)") != 2 {
		t.Errorf("compose ps:\n%s", ps)
	}
	// The engine sees the paused replicas as running: nothing replaced.
	time.Sleep(time.Second)
	if got := ids(); got != before {
		t.Errorf("pause changed the stack's containers: %q, was %q", got, before)
	}
	// Paused ones are skipped by pause; running ones by unpause.
	if _, errOut, code := c.run("compose", "-f", f, "pause"); code != 0 || strings.Contains(errOut, "app") || !strings.Contains(errOut, "cpause-db-1  Paused") {
		t.Errorf("pause of all: exit %d\n%s", code, errOut)
	}
	_, errOut, code = c.run("compose", "-f", f, "unpause", "app")
	if code != 0 || !strings.Contains(errOut, " Container cpause-app-2  Unpaused") || strings.Contains(errOut, "db") {
		t.Fatalf("unpause app: exit %d\n%s", code, errOut)
	}
	if got := c.must("compose", "-f", f, "ps", "--services", "--status", "running"); got != "app\n" {
		t.Errorf("running services after unpause app: %q", got)
	}
	// A paused replica stops as any other.
	if _, errOut, code := c.run("compose", "-f", f, "stop", "-t", "5", "db"); code != 0 || !strings.Contains(errOut, "cpause-db-1  Stopped") {
		t.Errorf("stop of paused db: exit %d\n%s", code, errOut)
	}
	if got := c.must("compose", "-f", f, "ps", "-a", "--services", "--status", "exited"); got != "db\n" {
		t.Errorf("exited services after stop db: %q", got)
	}
}
