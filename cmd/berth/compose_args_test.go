//go:build registry

package main

import (
	"slices"
	"testing"
	"time"

	"github.com/berthproject/berth/runtime"
)

func TestComposeArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"file before logs, follow after", []string{"-f", "x.yaml", "logs", "-f", "web"}, []string{"logs", "--file=x.yaml", "-f", "web"}},
		{"berth's root and a project", []string{"-p", "st", "--root", "/r", "ps", "-a"}, []string{"ps", "--root=/r", "--project-name=st", "-a"}},
		{"several files in order", []string{"--file=a.yaml", "-f", "b.yaml", "config"}, []string{"config", "--file=a.yaml", "--file=b.yaml"}},
		{"flags after the command stay", []string{"ps", "-p", "st"}, []string{"ps", "-p", "st"}},
		{"no command", nil, []string{"--help"}},
		{"help", []string{"-p", "st", "--help"}, []string{"--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := composeArgs(tc.args)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("composeArgs(%q) = %q, %v; want %q", tc.args, got, err, tc.want)
			}
		})
	}
	if _, err := composeArgs([]string{"-x", "ps"}); err == nil {
		t.Error("an unknown flag before the command was accepted")
	}
}

func TestStackRows(t *testing.T) {
	ctr := func(stack, status, files string) *runtime.Container {
		return &runtime.Container{
			Config: runtime.Config{Labels: map[string]string{"com.docker.compose.project": stack, labelConfigFiles: files}},
			State:  runtime.State{Status: status, Running: status == runtime.StatusRunning},
		}
	}
	rows := stackRows([]*runtime.Container{
		ctr("b", runtime.StatusRunning, "/b/compose.yaml"), ctr("b", runtime.StatusExited, "/b/compose.yaml"),
		ctr("b", runtime.StatusRunning, "/b/compose.yaml"), ctr("a", runtime.StatusExited, "/a/x.yaml,/a/y.yaml"),
		ctr("", runtime.StatusRunning, ""), // a plain container: no stack
	})
	want := []stackRow{
		{Name: "a", Status: "exited(1)", ConfigFiles: "/a/x.yaml,/a/y.yaml"},
		{Name: "b", Status: "exited(1), running(2)", ConfigFiles: "/b/compose.yaml", running: true},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("stackRows = %+v, want %+v", rows, want)
	}
}

func TestParseLogTime(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"10m":                  now.Add(-10 * time.Minute),
		"1700000000":           time.Unix(1700000000, 0),
		"2013-01-02T13:23:37Z": time.Date(2013, 1, 2, 13, 23, 37, 0, time.UTC),
	} {
		if got, err := parseLogTime("--since", in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseLogTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseLogTime("--since", "yesterday", now); err == nil {
		t.Error(`"yesterday" was accepted`)
	}
	if got := normalizeProjectName("My.App_1"); got != "myapp_1" {
		t.Errorf("normalizeProjectName = %q", got)
	}
}
