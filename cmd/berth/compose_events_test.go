package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// compose events reports a container made, stopped and removed while it
// runs, in compose's text form and as JSON lines; only Ctrl-C ends it.
func TestCLI_ComposeEvents(t *testing.T) {
	c := newCLI(t)
	_, f := c.composeStack(`name: cev
services:
  web:
    image: bb
    command: ["sleep", "1000"]
`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	follow := func(args ...string) (*exec.Cmd, *syncBuffer, chan struct{}) {
		cmd := c.command(append([]string{"compose", "-f", f, "events"}, args...)...)
		var buf syncBuffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill() // fails harmlessly when it has ended
			<-done
		})
		return cmd, &buf, done
	}
	text, textOut, textDone := follow()
	js, jsonOut, _ := follow("--json", "web")
	time.Sleep(time.Second) // both have looked once: what is there now is no event

	out, errOut, code := c.run("compose", "-f", f, "run", "-d", "--name", "cev-tmp", "web", "sleep", "1000")
	if code != 0 {
		t.Fatalf("run -d: exit %d, %s", code, errOut)
	}
	id := strings.TrimSpace(c.must("inspect", "-f", "{{.Id}}", strings.TrimSpace(out)))
	c.must("stop", "-t", "1", "cev-tmp")
	c.must("rm", "cev-tmp")

	want := []string{"create", "start", "die", "destroy"}
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} container (\S+) ` + id + ` \((.*)\)$`)
	for {
		var actions []string
		for _, l := range strings.Split(textOut.String(), "\n") {
			if m := line.FindStringSubmatch(l); m != nil {
				actions = append(actions, m[1])
				if !strings.Contains(m[2], "image=bb") || !strings.Contains(m[2], "name=cev-tmp") {
					t.Errorf("event's attributes: %q", l)
				}
				if m[1] == "die" && !strings.Contains(m[2], "exitCode=") {
					t.Errorf("die without exitCode: %q", l)
				}
			}
		}
		if strings.Join(actions, " ") == strings.Join(want, " ") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("events: got %v, want %v:\n%s", actions, want, textOut.String())
		case <-textDone:
			t.Fatalf("events ended by itself:\n%s", textOut.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if strings.Contains(textOut.String(), "cev-web-1") {
		t.Errorf("events reported web-1, which was there before and did not change:\n%s", textOut.String())
	}

	waitFor(t, "events --json to see the destroy", func() bool { return strings.Contains(jsonOut.String(), `"destroy"`) })
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(jsonOut.String()), "\n") {
		var e struct {
			Time, Type, Action, ID, Service string
			Attributes                      map[string]string
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("events --json line %q: %v", l, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil || e.Type != "container" || e.ID != id || e.Service != "web" || e.Attributes["name"] != "cev-tmp" {
			t.Errorf("events --json: %q", l)
		}
		got = append(got, e.Action)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events --json web: %v, want %v", got, want)
	}

	for _, cmd := range []*exec.Cmd{text, js} {
		if err := syscall.Kill(cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-textDone:
		if code := text.ProcessState.ExitCode(); code != 0 {
			t.Errorf("events after Ctrl-C: exit %d", code)
		}
	case <-ctx.Done():
		t.Fatal("events did not end on SIGINT")
	}
}
