package containerinit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWorkloadEnv(t *testing.T) {
	got := strings.Join(workloadEnv([]string{"FOO=1"}, true, "/home/a"), " ")
	for _, want := range []string{"PATH=" + DefaultPath, "TERM=xterm", "FOO=1", "HOME=/home/a", "HOSTNAME="} {
		if !strings.Contains(got, want) {
			t.Errorf("env %q lacks %q", got, want)
		}
	}
	got = strings.Join(workloadEnv([]string{"PATH=/x", "HOME=/h", "TERM=dumb"}, true, "/home/a"), " ")
	if strings.Contains(got, DefaultPath) || strings.Contains(got, "/home/a") || strings.Contains(got, "xterm") {
		t.Errorf("user-set PATH, HOME or TERM overridden: %q", got)
	}
}

func TestFindExecutable(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("tool", 0o755)
	write("plain", 0o644)
	env := []string{"PATH=/nonexistent:" + dir}
	cases := []struct {
		name string
		argv []string
		want string
		code int
	}{
		{"found in PATH", []string{"tool"}, filepath.Join(dir, "tool"), 0},
		{"absolute", []string{filepath.Join(dir, "tool")}, filepath.Join(dir, "tool"), 0},
		{"relative to cwd", []string{"./tool"}, filepath.Join(dir, "tool"), 0},
		{"not in PATH", []string{"nope"}, "", ExitNotFound},
		{"not executable", []string{"plain"}, "", ExitCannotExecute},
		{"a directory", []string{dir}, "", ExitCannotExecute},
		{"empty", nil, "", ExitSetupFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findExecutable(tc.argv, env, dir)
			var ie *initError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tc.code != 0 && (!errors.As(err, &ie) || ie.code != tc.code):
				t.Fatalf("err = %v, want exit code %d", err, tc.code)
			case got != tc.want:
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTmpfsOptions(t *testing.T) {
	flags, data := tmpfsOptions([]string{"size=64m", "exec", "mode=1777", "ro"})
	if flags&unix.MS_NOEXEC != 0 || flags&unix.MS_NOSUID == 0 || flags&unix.MS_NODEV == 0 || flags&unix.MS_RDONLY == 0 {
		t.Errorf("flags = %#x", flags)
	}
	if data != "size=64m,mode=1777" {
		t.Errorf("data = %q", data)
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"A=1", "B=2", "PATH=/x"}, []string{"B=3", "C=4", "A=5"})
	want := []string{"A=5", "B=3", "PATH=/x", "C=4"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
	if got := MergeEnv(nil, nil); len(got) != 0 {
		t.Errorf("MergeEnv(nil, nil) = %q", got)
	}
}
