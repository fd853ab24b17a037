package scheduler

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berthproject/berth/spec"
)

func TestWatchRuleMatch(t *testing.T) {
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, ".dockerignore"), []byte("*.log\nbuild/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(ctx, "src")
	st := &spec.Stack{Name: "s", Services: map[string]*spec.Service{
		"web": {Name: "web", Build: &spec.Build{Context: ctx}, Develop: &spec.Develop{Watch: []spec.WatchRule{
			{Path: src, Action: spec.WatchSync, Target: "/app/src", Ignore: []string{"tmp/", "*.bak"}},
			{Path: filepath.Join(ctx, "package.json"), Action: spec.WatchRebuild},
		}}},
		"api": {Name: "api", Develop: &spec.Develop{Watch: []spec.WatchRule{
			{Path: src, Action: spec.WatchRestart, Include: []string{"*.go"}},
		}}},
	}}
	rules, err := compileWatchRules(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 || rules[0].service != "api" {
		t.Fatalf("rules: %d, first of %s; want 3, api's first (name order)", len(rules), rules[0].service)
	}
	api, sync, rebuild := rules[0], rules[1], rules[2]
	for _, c := range []struct {
		r    *watchRule
		path string
		rel  string // "" when not taken
	}{
		{sync, "src/a/b.js", "a/b.js"},
		{sync, "src/tmp/x.js", ""},           // ignore, a directory
		{sync, "src/a/c.bak", "a/c.bak"},     // patterns are anchored at the rule's path, as .dockerignore's: *.bak is the top's only
		{sync, "src/c.bak", ""},              // ignore
		{sync, "src/debug.log", "debug.log"}, // .dockerignore's *.log is for the context's top only
		{sync, "debug.log", ""},              // not under the rule's path
		{sync, "src/../other/x", ""},         // outside
		{rebuild, "package.json", "."},
		{rebuild, "package.json.bak", ""},
		{api, "src/main.go", "main.go"},
		{api, "src/a/b.js", ""}, // include: only *.go
		{api, "src/a/main.go", ""},
	} {
		p := filepath.Join(ctx, c.path)
		rel, ok := c.r.match(p)
		if !ok {
			rel = ""
		}
		if rel != c.rel {
			t.Errorf("%s rule, %s: taken as %q, want %q", c.r.Action, c.path, rel, c.rel)
		}
	}
	if got := sync.target("a/b.js"); got != "/app/src/a/b.js" {
		t.Errorf("target: %s", got)
	}

	// .dockerignore of the context applies to the rules inside it.
	if err := os.MkdirAll(filepath.Join(ctx, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	wide := &watchRule{service: "web", WatchRule: spec.WatchRule{Path: ctx, Action: spec.WatchRebuild}, dockerignore: sync.dockerignore, context: ctx}
	for p, want := range map[string]bool{"x.log": false, "build/out": false, "src/y.go": true} {
		if _, ok := wide.match(filepath.Join(ctx, p)); ok != want {
			t.Errorf(".dockerignore: %s taken %v, want %v", p, ok, want)
		}
	}

	// Only the services asked for.
	only, err := compileWatchRules(st, []string{"api"})
	if err != nil || len(only) != 1 || only[0].service != "api" {
		t.Errorf("services [api]: %d rules, %v", len(only), err)
	}
}

func TestWatchRuleSyncFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.txt", "sub/b.txt", "tmp/c.txt", ".git/HEAD"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	st := &spec.Stack{Name: "s", Services: map[string]*spec.Service{"web": {Name: "web", Develop: &spec.Develop{Watch: []spec.WatchRule{
		{Path: dir, Action: spec.WatchSync, Target: "/app", Ignore: []string{"tmp"}},
	}}}}}
	rules, err := compileWatchRules(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := rules[0].syncFiles()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Target)
	}
	want := []string{"/app", "/app/a.txt", "/app/sub", "/app/sub/b.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("full sync: %v, want %v", got, want)
	}
	if !rules[0].skips(filepath.Join(dir, "tmp")) || rules[0].skips(filepath.Join(dir, "sub")) {
		t.Error("skips: tmp should be skipped, sub not")
	}
}
