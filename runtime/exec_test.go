package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/berthproject/berth/internal/testutil"
	"github.com/berthproject/berth/runtime/containerinit"
)

// execOut runs args in c and returns its stdout, stderr and exit code.
func execOut(t *testing.T, m *Manager, c *Container, cfg ExecConfig) (stdout, stderr string, code int, err error) {
	t.Helper()
	dir := t.TempDir()
	files := make([]*os.File, 2)
	for i := range files {
		f, ferr := os.Create(filepath.Join(dir, strconv.Itoa(i)))
		if ferr != nil {
			t.Fatal(ferr)
		}
		defer f.Close()
		files[i] = f
	}
	code, err = m.Exec(context.Background(), c, cfg, &Stdio{Out: files[0], Err: files[1]})
	o, _ := os.ReadFile(files[0].Name())
	e, _ := os.ReadFile(files[1].Name())
	return string(o), string(e), code, err
}

// mustExec runs args in c and fails the test unless it exits 0.
func mustExec(t *testing.T, m *Manager, c *Container, args ...string) string {
	t.Helper()
	out, errs, code, err := execOut(t, m, c, ExecConfig{Args: args})
	if err != nil || code != 0 {
		t.Fatalf("exec %q: exit %d, %v\n%s%s", args, code, err, out, errs)
	}
	return out
}

// workloadPid is the host pid of c's workload, the init's child.
func workloadPid(t *testing.T, c *Container) int {
	t.Helper()
	var pid int
	eventually(t, "the workload", func() bool {
		kids := children(c.State.Pid)
		if len(kids) == 0 {
			return false
		}
		pid = kids[0]
		return true
	})
	return pid
}

func TestExec_OutputAndExitCode(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	out, errs, code, err := execOut(t, m, c, ExecConfig{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err != nil || code != 3 || out != "out\n" || errs != "err\n" {
		t.Errorf("exec = %d, %v, stdout %q, stderr %q; want 3, out, err", code, err, out, errs)
	}
	// nil stdio discards; the exit code still comes back.
	if code, err := m.Exec(context.Background(), c, ExecConfig{Args: []string{"sh", "-c", "echo lost; exit 7"}}, nil); code != 7 || err != nil {
		t.Errorf("exec without stdio = %d, %v; want 7", code, err)
	}
	// stdin goes in, and its end is the process's EOF.
	in, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	go func() { fmt.Fprint(w, "one\ntwo\n"); w.Close() }()
	outf, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	if code, err := m.Exec(context.Background(), c, ExecConfig{Args: []string{"wc", "-l"}}, &Stdio{In: in, Out: outf}); code != 0 || err != nil {
		t.Fatalf("exec wc -l = %d, %v", code, err)
	}
	if got, _ := os.ReadFile(outf.Name()); strings.TrimSpace(string(got)) != "2" {
		t.Errorf("wc -l of stdin = %q, want 2", got)
	}
}

func TestExec_EnvUserWorkdir(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sleep", "100")
	cfg.Env = []string{"FROM_RUN=run", "OVERRIDE=run"}
	cfg.User = "bob"
	cfg.WorkingDir = "/tmp"
	c := startDetached(t, m, cfg)
	show := []string{"sh", "-c", `echo "$FROM_RUN $OVERRIDE $ADDED $HOME $PATH"; id -u; id -g; id -G; pwd`}
	// The container's settings...
	out := mustExec(t, m, c, show...)
	want := "run run  /home/bob " + containerinit.DefaultPath + "\n1001\n1001\n1001 50\n/tmp\n"
	if out != want {
		t.Errorf("exec with the container's settings:\n%s\nwant:\n%s", out, want)
	}
	// ...and the exec's own.
	out, errs, code, err := execOut(t, m, c, ExecConfig{
		Args: show, Env: []string{"OVERRIDE=exec", "ADDED=exec"}, User: "alice", WorkingDir: "/etc",
	})
	want = "run exec exec /home/alice " + containerinit.DefaultPath + "\n1000\n1000\n1000 50\n/etc\n"
	if err != nil || code != 0 || out != want {
		t.Errorf("exec -e -u alice -w /etc: %d, %v:\n%s%s\nwant:\n%s", code, err, out, errs, want)
	}
	_, errs, code, err = execOut(t, m, c, ExecConfig{Args: []string{"true"}, User: "nosuchuser"})
	if code != ExitSetupFailed || err == nil || !strings.Contains(err.Error(), "unable to find user nosuchuser") {
		t.Errorf("exec -u nosuchuser = %d, %v %s", code, err, errs)
	}
	_, _, code, err = execOut(t, m, c, ExecConfig{Args: []string{"true"}, WorkingDir: "/nonexistent"})
	if code != ExitCannotExecute || err == nil || !strings.Contains(err.Error(), "/nonexistent") {
		t.Errorf("exec -w /nonexistent = %d, %v", code, err)
	}
	out = mustExec(t, m, c, "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs)", "/proc/self/status")
	// A user without capabilities: CapEff is empty (exec as non-root
	// clears the permitted set), the bounding set is Docker's.
	if !strings.Contains(out, "CapEff:\t0000000000000000") || !strings.Contains(out, "CapBnd:\t00000000a80425fb") || !strings.Contains(out, "NoNewPrivs:\t1") {
		t.Errorf("exec's capabilities:\n%s", out)
	}
}

func TestExec_SeesTheContainer(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "echo from-workload > /tmp/marker; exec sleep 100")
	cfg.Hostname = "inside"
	c := startDetached(t, m, cfg)
	eventually(t, "the marker file", func() bool {
		_, _, code, _ := execOut(t, m, c, ExecConfig{Args: []string{"test", "-e", "/tmp/marker"}})
		return code == 0
	})
	out := mustExec(t, m, c, "sh", "-c", "cat /tmp/marker; hostname; ps -o pid,args")
	if !strings.Contains(out, "from-workload\ninside\n") {
		t.Errorf("exec does not see the container's files or hostname:\n%s", out)
	}
	// ps in the container's PID namespace: the init as 1, the workload,
	// and nothing of the host.
	if !strings.Contains(out, "sleep 100") || !regexpMatch(`(?m)^\s*1 `, out) || strings.Count(out, "\n") > 8 {
		t.Errorf("ps in exec:\n%s", out)
	}
	// Every namespace is the workload's: mount, PID, UTS, IPC, network
	// and cgroup.
	wl := workloadPid(t, c)
	for _, ns := range []string{"mnt", "pid", "uts", "ipc", "net", "cgroup"} {
		want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", wl, ns))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimSpace(mustExec(t, m, c, "readlink", "/proc/self/ns/"+ns))
		if got != want {
			t.Errorf("exec's %s namespace is %s, the workload's %s", ns, got, want)
		}
	}
	// The cgroups too: the container's, seen as "/" through its namespace.
	if got := mustExec(t, m, c, "cat", "/proc/self/cgroup"); !strings.Contains(got, ":/\n") || strings.Contains(got, "berth") {
		t.Errorf("exec's /proc/self/cgroup:\n%s", got)
	}
	// The container's network: loopback only, up.
	if got := mustExec(t, m, c, "cat", "/proc/net/dev"); !strings.Contains(got, "lo:") || strings.Count(got, ":") != 1 {
		t.Errorf("exec's network devices:\n%s", got)
	}
}

func regexpMatch(re, s string) bool {
	return regexp.MustCompile(re).MatchString(s)
}

func TestExec_NoHostFdOrSocketInside(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	if _, err := os.Stat(filepath.Join(c.Dir, "exec.sock")); err != nil {
		t.Fatalf("the exec socket: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(c.Dir, "exec.sock")); st.Mode().Perm() != 0o600 {
		t.Errorf("exec.sock mode = %v, want 0600", st.Mode())
	}
	// ls's own directory is its fd 3; nothing else of the init's.
	for _, tty := range []bool{false, true} {
		cfg := ExecConfig{Args: []string{"ls", "/proc/self/fd"}, TTY: tty}
		out, _, code, err := execOut(t, m, c, cfg)
		fds := strings.Fields(out)
		if err != nil || code != 0 || !slices.Equal(fds, []string{"0", "1", "2", "3"}) {
			t.Errorf("fds of an exec'd process (tty %v): %q, exit %d, %v", tty, out, code, err)
		}
	}
	// The init's fd of the container's directory cannot be followed.
	out := mustExec(t, m, c, "sh", "-c", "find / -xdev -name exec.sock; ls /proc/1/fd/100/ 2>&1; true")
	if strings.Contains(out, "exec.sock") || !strings.Contains(out, "Permission denied") {
		t.Errorf("inside, the socket or the init's fds are in reach:\n%s", out)
	}
}

func TestExec_MissingCommand(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"no-such-command"}, ExitNotFound},
		{[]string{"/etc/passwd"}, ExitCannotExecute},
		{[]string{"/etc"}, ExitCannotExecute},
	}
	for _, tc := range cases {
		code, err := m.Exec(context.Background(), c, ExecConfig{Args: tc.args}, nil)
		var ee *ExecError
		if code != tc.code || !errors.As(err, &ee) || ee.Code != tc.code {
			t.Errorf("exec %q = %d, %v; want %d", tc.args, code, err, tc.code)
		}
	}
	// The container is unharmed.
	if fresh, _ := m.Get(c.ID); !fresh.State.Running {
		t.Error("a failed exec ended the container")
	}
}

func TestExec_Detach(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	start := time.Now()
	code, err := m.Exec(context.Background(), c, ExecConfig{Args: []string{"sh", "-c", "sleep 0.5; echo done > /tmp/detached"}, Detach: true}, nil)
	if code != 0 || err != nil || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("exec -d = %d, %v after %v; want 0 at once", code, err, time.Since(start))
	}
	eventually(t, "the detached process's file", func() bool {
		out, _, _, _ := execOut(t, m, c, ExecConfig{Args: []string{"cat", "/tmp/detached"}})
		return out == "done\n"
	})
	// It was reaped: no zombie in the container.
	if out := mustExec(t, m, c, "ps", "-o", "stat,args"); strings.Contains(out, "Z ") {
		t.Errorf("a zombie after exec -d:\n%s", out)
	}
}

func TestExec_StoppedContainer(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "true")
	cfg.Name = "done"
	run(t, m, cfg)
	c, err := m.Get("done")
	if err != nil {
		t.Fatal(err)
	}
	code, err := m.Exec(context.Background(), c, ExecConfig{Args: []string{"true"}}, nil)
	if code != ExitSetupFailed || !errors.Is(err, ErrNotRunning) || err.Error() != "container done is not running" {
		t.Errorf("exec into a stopped container = %d, %v", code, err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "exec.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("exec.sock left behind: %v", err)
	}
	// A container read while running, gone since: the same error.
	c2 := startDetached(t, m, baseConfig(t, "sleep", "100"))
	if err := m.Stop(context.Background(), c2, time.Second); err != nil {
		t.Fatal(err)
	}
	c2.State.Running = true
	if _, err := m.Exec(context.Background(), c2, ExecConfig{Args: []string{"true"}}, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("exec into a container that stopped since = %v", err)
	}
}

func TestExec_TTY(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	// The caller's terminal, as `berth exec -it` in a terminal has one.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 33, Cols: 101}); err != nil {
		t.Fatal(err)
	}
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatal(err)
	}
	resize := make(chan WindowSize)
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	script := `tty; stty size; echo ready; read line; stty size; echo "TERM=$TERM"; trap 'echo got-int; exit 5' INT; echo armed; while :; do sleep 0.1; done`
	go func() {
		code, err := m.Exec(context.Background(), c, ExecConfig{Args: []string{"sh", "-c", script}, TTY: true, Resize: resize}, &Stdio{In: tty, Out: tty, Err: tty})
		done <- result{code, err}
	}()
	out := readUntil(t, ptmx, "ready")
	if !regexpMatch(`/dev/pts/\d+\r?\n33 101`, out) {
		t.Errorf("inside the TTY: %q, want /dev/pts/N and the size 33 101", out)
	}
	resize <- WindowSize{Rows: 40, Cols: 120}
	time.Sleep(100 * time.Millisecond)
	if _, err := ptmx.Write([]byte("go\r")); err != nil {
		t.Fatal(err)
	}
	out = readUntil(t, ptmx, "armed")
	if !strings.Contains(out, "40 120") || !strings.Contains(out, "TERM=xterm") {
		t.Errorf("after a resize: %q, want 40 120 and TERM=xterm", out)
	}
	// ^C, typed: the process's pty turns it into SIGINT.
	if _, err := ptmx.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	out = readUntil(t, ptmx, "got-int")
	select {
	case r := <-done:
		if r.code != 5 || r.err != nil {
			t.Errorf("exec -t = %d, %v; want 5", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("exec -t did not end after ^C: %q", out)
	}
}

// readUntil reads f until want shows up, for 10 s at most.
func readUntil(t *testing.T, f *os.File, want string) string {
	t.Helper()
	var got strings.Builder
	buf := make([]byte, 4096)
	_ = f.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer f.SetReadDeadline(time.Time{})
	for !strings.Contains(got.String(), want) {
		n, err := f.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("reading the terminal for %q: %v; got %q", want, err, got.String())
		}
	}
	return got.String()
}

// A container killed with SIGKILL takes its exec'd processes with it, and
// Exec says 137, as docker exec, not an error about its connection.
func TestExec_EndsWithAKilledContainer(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	go func() {
		code, err := m.Exec(context.Background(), c, ExecConfig{Args: []string{"sh", "-c", "echo started; exec sleep 100"}}, &Stdio{Out: w})
		w.Close()
		done <- result{code, err}
	}()
	readUntil(t, stdout, "started")
	if err := m.Kill(c, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.code != 137 || r.err != nil {
			t.Errorf("exec in a container killed meanwhile = %d, %v; want 137 and no error", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec did not end with its killed container")
	}
	if _, err := m.Wait(context.Background(), c); err != nil {
		t.Error(err)
	}
	assertNoProcsLeft(t, c)
}

func TestExec_EndsWithTheWorkload(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sh", "-c", "sleep 1; exit 4"))
	start := time.Now()
	code, err := m.Exec(context.Background(), c, ExecConfig{Args: []string{"sleep", "100"}}, nil)
	if code != 137 || err != nil || time.Since(start) > 8*time.Second {
		t.Errorf("exec while the workload ends = %d, %v after %v; want 137 soon after 1 s", code, err, time.Since(start))
	}
	st, err := m.Wait(context.Background(), c)
	if err != nil || st.ExitCode != 4 {
		t.Errorf("container exit = %+v, %v; want the workload's 4", st, err)
	}
	assertNoProcsLeft(t, c)
}

// assertNoProcsLeft checks that nothing of c runs: its cgroup, if still
// there, is empty.
func assertNoProcsLeft(t *testing.T, c *Container) {
	t.Helper()
	cg, err := loadCgroup(c.ID)
	if err != nil {
		return
	}
	eventually(t, "the container's processes to go", func() bool {
		pids, err := cg.Procs()
		return err != nil || len(pids) == 0
	})
}

func TestExec_ExitDoesNotEndContainer(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	for i := 0; i < 3; i++ {
		if code, _ := m.Exec(context.Background(), c, ExecConfig{Args: []string{"sh", "-c", "exit 9"}}, nil); code != 9 {
			t.Errorf("exec = %d, want 9", code)
		}
	}
	fresh, err := m.Get(c.ID)
	if err != nil || !fresh.State.Running {
		t.Errorf("the container after execs: %+v, %v", fresh, err)
	}
}

func TestExec_ContextKills(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, err := m.Exec(ctx, c, ExecConfig{Args: []string{"sh", "-c", "sleep 99 & sleep 98"}}, nil)
	if code != 137 || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("exec with a cancelled ctx = %d, %v after %v", code, err, time.Since(start))
	}
	eventually(t, "the exec'd processes to die", func() bool {
		out := mustExec(t, m, c, "ps", "-o", "args")
		return !strings.Contains(out, "sleep 99") && !strings.Contains(out, "sleep 98")
	})
}

func TestExec_CountsInPidsLimit(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sleep", "100")
	cfg.Resources.PidsLimit = 20
	c := startDetached(t, m, cfg)
	current := pidsCurrentFile(t, c.ID)
	read := func() int {
		b, _ := os.ReadFile(current)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	done := make(chan int, 1)
	go func() {
		// A fork bomb in miniature, from exec: 60 sleeps under pids.max=20.
		code, _ := m.Exec(context.Background(), c, ExecConfig{Args: []string{"sh", "-c", "(for i in $(seq 60); do sleep 2 & done) 2>/dev/null; echo survived"}}, nil)
		done <- code
	}()
	peak := 0
	for i := 0; i < 50; i++ {
		peak = max(peak, read())
		time.Sleep(10 * time.Millisecond)
	}
	if code := <-done; code != 0 {
		t.Errorf("exec of the fork bomb = %d", code)
	}
	if peak <= 5 || peak > 20 {
		t.Errorf("pids.current peaked at %d, want the exec's processes counted, up to 20", peak)
	}
	// The init lives on, and exec still works.
	mustExec(t, m, c, "true")
}

// pidsCurrentFile is the pids.current of container id's group.
func pidsCurrentFile(t *testing.T, id string) string {
	t.Helper()
	for _, p := range []string{
		filepath.Join(cgroupRoot, "pids", "berth", id, "pids.current"),
		filepath.Join(cgroupRoot, "berth", id, "pids.current"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no pids.current for container %s", id)
	return ""
}

func TestExec_ShortStateDir(t *testing.T) {
	testutil.RequireRoot(t)
	// A root short enough for the socket's own path (the other tests'
	// are too long, and go through /proc/self/fd).
	root, err := os.MkdirTemp("/tmp", "bx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	m, err := New(root, filepath.Join(root, "run"))
	if err != nil {
		t.Fatal(err)
	}
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	t.Cleanup(func() { _ = m.Remove(context.Background(), c, true) })
	if p := filepath.Join(c.Dir, "exec.sock"); len(p) >= 108 {
		t.Fatalf("%s is too long for this test", p)
	}
	if out := mustExec(t, m, c, "echo", "short"); out != "short\n" {
		t.Errorf("exec = %q", out)
	}
}
