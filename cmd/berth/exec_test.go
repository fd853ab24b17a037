package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

func TestCLI_Exec(t *testing.T) {
	c := newCLI(t)
	c.must("run", "-d", "--name", "box", "-e", "FROM_RUN=run", "--rootfs", c.rootfs, "--", "sleep", "100")

	out, errs, code := c.run("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || errs != "err\n" {
		t.Errorf("exec: exit %d, stdout %q, stderr %q; want 3, out, err", code, out, errs)
	}

	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# comment\nFROM_FILE=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = c.must("exec", "-e", "ADDED=flag", "--env-file", envFile, "-u", "alice", "-w", "/etc", "box",
		"sh", "-c", `echo "$FROM_RUN $ADDED $FROM_FILE"; id -un; pwd`)
	if out != "run flag file\nalice\n/etc\n" {
		t.Errorf("exec -e --env-file -u -w: %q", out)
	}

	// stdin only with -i.
	if out, _, _ := c.runIn(strings.NewReader("typed\n"), "exec", "-i", "box", "cat"); out != "typed\n" {
		t.Errorf("exec -i cat: %q", out)
	}
	if out, _, _ := c.runIn(strings.NewReader("typed\n"), "exec", "box", "cat"); out != "" {
		t.Errorf("exec cat without -i read stdin: %q", out)
	}

	if _, errs, code := c.run("exec", "box", "no-such-command"); code != 127 || !strings.Contains(errs, "no-such-command") || !strings.Contains(errs, "hint:") {
		t.Errorf("exec of a missing command: exit %d, %q; want 127", code, errs)
	}
	if _, errs, code := c.run("exec", "box", "/etc/passwd"); code != 126 {
		t.Errorf("exec of a file that is no program: exit %d, %q; want 126", code, errs)
	}
	if _, errs, code := c.run("exec", "nosuch", "true"); code != 125 || !strings.Contains(errs, "no such container") {
		t.Errorf("exec into a missing container: exit %d, %q; want 125", code, errs)
	}

	// -d returns at once; the process runs on.
	start := time.Now()
	if out := c.must("exec", "-d", "box", "sh", "-c", "sleep 0.3; echo done > /tmp/d"); out != "" || time.Since(start) > 2*time.Second {
		t.Errorf("exec -d printed %q after %v", out, time.Since(start))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, _, _ := c.run("exec", "box", "cat", "/tmp/d"); out == "done\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the detached process never wrote its file")
		}
		time.Sleep(50 * time.Millisecond)
	}

	c.must("stop", "-t", "1", "box")
	if _, errs, code := c.run("exec", "box", "true"); code != 125 || !strings.Contains(errs, "container box is not running") {
		t.Errorf("exec into a stopped container: exit %d, %q", code, errs)
	}
}

func TestCLI_ExecInteractiveTTY(t *testing.T) {
	c := newCLI(t)
	c.must("run", "-d", "--name", "box", "--rootfs", c.rootfs, "--", "sleep", "100")
	cmd := c.command("exec", "-it", "box", "sh")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 101})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	// Typed at the prompt, as a user would: ^C ends the sleep (through
	// the pty, as in a terminal) and not the shell, whose exit code is
	// then berth's.
	for _, typed := range []string{"tty; stty size\r", "sleep 100\r", "\x03", "echo typed-$((6*7))\r", "exit 3\r"} {
		if _, err := ptmx.Write([]byte(typed)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := io.ReadAll(ptmx) // EIO once berth exits
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("berth exec -it: %v, want exit status 3\n%q", err, out)
	}
	got := strings.ReplaceAll(string(out), "\r", "")
	if !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "33 101") || !strings.Contains(got, "typed-42") {
		t.Errorf("inside the terminal: %q, want /dev/pts/N, 33 101 and typed-42", got)
	}
	// The container is unharmed.
	if out := c.must("exec", "box", "echo", "still"); out != "still\n" {
		t.Errorf("after exec -it: %q", out)
	}
}
