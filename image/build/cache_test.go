package build

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const cacheDockerfile = `FROM scratch
COPY a.txt /a.txt
RUN touch /after-a
COPY b.txt /b.txt
RUN touch /after-b
ENV DONE=1
`

func TestBuild_Cache(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{"a.txt": "a", "b.txt": "b"})
	first := e.mustBuild(cacheDockerfile, Options{Tags: []string{"app"}})
	if runs := e.runner.runs(); len(runs) != 2 {
		t.Fatalf("runs = %q", runs)
	}

	e.out.Reset()
	again := e.mustBuild(cacheDockerfile, Options{Tags: []string{"app"}})
	if again.ID != first.ID {
		t.Errorf("a rebuild with nothing changed gave %s, first %s", again.ID, first.ID)
	}
	if runs := e.runner.runs(); len(runs) != 2 {
		t.Errorf("the rebuild ran steps: %q", runs)
	}
	if n := strings.Count(e.out.String(), "--> CACHED"); n != 5 {
		t.Errorf("%d steps CACHED, want 5:\n%s", n, e.out.String())
	}

	// One copied file changes: its step and the later ones run again.
	e.write(map[string]string{"b.txt": "b2"})
	changed := e.mustBuild(cacheDockerfile, Options{Tags: []string{"app"}})
	if runs := e.runner.runs(); !reflect.DeepEqual(runs[2:], []string{"touch /after-b"}) {
		t.Errorf("after changing b.txt the runs were %q", runs)
	}
	if got, _ := file(t, changed, "b.txt"); got != "b2" {
		t.Errorf("b.txt = %q", got)
	}
	if changed.ID == first.ID {
		t.Error("the changed build has the first one's ID")
	}
	// A mode change is a change too.
	if err := chmod(e.ctx+"/b.txt", 0o600); err != nil {
		t.Fatal(err)
	}
	e.mustBuild(cacheDockerfile, Options{})
	if n := len(e.runner.runs()); n != 4 {
		t.Errorf("a mode change reran %d steps in all, want 4", n)
	}

	// --no-cache runs everything, and the cache still answers after.
	e.mustBuild(cacheDockerfile, Options{NoCache: true})
	if n := len(e.runner.runs()); n != 6 {
		t.Errorf("--no-cache: %d runs in all, want 6", n)
	}
	// A build arg in scope is part of the key.
	e.mustBuild("FROM scratch\nARG V\nRUN touch /v\n", Options{BuildArgs: map[string]string{"V": "1"}})
	e.mustBuild("FROM scratch\nARG V\nRUN touch /v\n", Options{BuildArgs: map[string]string{"V": "2"}})
	e.mustBuild("FROM scratch\nARG V\nRUN touch /v\n", Options{BuildArgs: map[string]string{"V": "1"}})
	if n := len(e.runner.runs()); n != 8 {
		t.Errorf("build args: %d runs in all, want 8", n)
	}
}

func TestBuild_FailingRun(t *testing.T) {
	e := newEnv(t)
	e.runner.exit = map[string]int{"false": 3}
	df := "FROM scratch\nRUN touch /ok\nRUN false\nRUN touch /never\n"
	_, err := e.build(df, Options{Tags: []string{"broken"}})
	var se *StepError
	if !errors.As(err, &se) || se.Code != 3 || se.Line != 3 || se.Step != 3 || se.Total != 4 {
		t.Fatalf("err = %#v", err)
	}
	if msg := err.Error(); msg != "RUN step 3/4 failed with exit code 3 (Dockerfile:3: RUN false)" {
		t.Errorf("message: %s", msg)
	}
	if !strings.Contains(e.out.String(), "failing on purpose") {
		t.Errorf("the step's output is not shown:\n%s", e.out.String())
	}
	if _, err := e.store.Get("broken"); err == nil {
		t.Error("a failed build named an image")
	}
	// The step before the failure is cached.
	e.runner.exit = nil
	e.mustBuild(df, Options{})
	if runs := e.runner.runs(); !reflect.DeepEqual(runs, []string{"touch /ok", "false", "false", "touch /never"}) {
		t.Errorf("runs = %q", runs)
	}
	// Quiet keeps the output for the error.
	e.runner.exit = map[string]int{"false": 1}
	_, err = e.build("FROM scratch\nRUN false quietly\n", Options{Quiet: true})
	if !errors.As(err, &se) || !strings.Contains(string(se.Output), "failing on purpose") {
		t.Errorf("quiet failure: %v, output %q", err, se.Output)
	}
}
