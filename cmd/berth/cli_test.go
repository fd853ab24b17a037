package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/berthproject/berth/internal/testutil"
)

// berthBin is the berth binary built once for these tests: they drive it
// as a user would, from the outside.
var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-cli-test")
	if err != nil {
		panic(err)
	}
	// Readable by all: one test runs berth as nobody.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	berthBin = filepath.Join(dir, "berth")
	// berth-init goes beside berth, as `make build` installs them.
	for _, b := range [][3]string{
		{berthBin, ".", ""},
		{filepath.Join(dir, "berth-init"), "../berth-init", ""},
		{filepath.Join(dir, "berth-registry"), ".", "registry"},
	} {
		build := exec.Command("go", "build", "-tags", b[2], "-o", b[0], b[1])
		// Static, as make builds them: the shim runs berth-init inside
		// containers, for exec.
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			os.RemoveAll(dir)
			panic("building " + b[1] + ": " + err.Error())
		}
	}
	// berth-shim too, as root (it takes gcc, which make installs): the
	// containers hand over to it as they do beside an installed berth.
	if os.Geteuid() == 0 {
		if _, err := testutil.BuildShim(dir); err != nil {
			os.RemoveAll(dir)
			panic(err.Error())
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cli struct {
	t      *testing.T
	root   string
	rootfs string
	// netns is the test's own network namespace: berth runs in it, so the
	// bridges, rules and DNS server it makes never touch the machine's.
	netns string
	env   []string // added to berth's environment
}

// newCLI gives a test its own berth root, busybox rootfs and network
// namespace; whatever containers the test leaves are force-removed at the
// end, and what their networks left is checked (see checkNetworkGone).
func newCLI(t *testing.T) *cli {
	testutil.RequireRoot(t)
	c := &cli{t: t, root: t.TempDir(), rootfs: testutil.BusyboxRootfs(t), netns: testutil.NetNS(t)}
	// The DNS helper leaves soon after the last container; unknown names
	// go to a port on the namespace's loopback where nothing listens.
	// The engine, started by stack commands, leaves once it has no stack.
	c.env = []string{"BERTH_DNS_IDLE=200ms", "BERTH_DNS_UPSTREAMS=127.0.0.1:9", "BERTH_ENGINE_IDLE=300ms"}
	t.Cleanup(func() {
		ids, _, _ := c.run("ps", "-a", "-q", "--no-trunc")
		for _, id := range strings.Fields(ids) {
			c.run("rm", "-f", id)
		}
		if matches, _ := filepath.Glob(filepath.Join(c.root, "containers", "*")); len(matches) > 0 {
			t.Errorf("containers left after cleanup: %v", matches)
		}
		c.checkNetworkGone()
		c.waitEngineGone()
	})
	return c
}

// run runs berth with args and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	return c.runIn(nil, args...)
}

// command is berth with args, to run in the test's network namespace.
// pull, push, login and logout talk to the test's registry on the
// machine's loopback: they run outside it (they make no links).
func (c *cli) command(args ...string) *exec.Cmd {
	argv := append([]string{"--root", c.root}, args...)
	cmd := exec.Command(berthBin, argv...)
	if len(args) == 0 || !slices.Contains([]string{"pull", "push", "login", "logout"}, args[0]) {
		cmd = exec.Command("nsenter", append([]string{"--net=" + c.netns, "--", berthBin}, argv...)...)
	}
	cmd.Env = append(os.Environ(), c.env...)
	return cmd
}

func (c *cli) runIn(stdin io.Reader, args ...string) (string, string, int) {
	cmd := c.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running berth %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// must runs berth and fails the test unless it exits 0.
func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("berth %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func TestCLI_ForegroundExitCodeAndRm(t *testing.T) {
	c := newCLI(t)
	out, _, code := c.run("run", "--rm", "--rootfs", c.rootfs, "--", "sh", "-c", "echo out; echo err >&2; exit 42")
	if code != 42 || out != "out\n" {
		t.Errorf("got exit %d, stdout %q", code, out)
	}
	if left := c.must("ps", "-a", "-q"); left != "" {
		t.Errorf("--rm left a container: %q", left)
	}
}

func TestCLI_DetachedSurvivesCLI(t *testing.T) {
	c := newCLI(t)
	id := strings.TrimSpace(c.must("run", "-d", "--name", "bg", "--rootfs", c.rootfs, "--", "sh", "-c", "echo started; while true; do sleep 0.1; done"))
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64-character id", id)
	}
	// The CLI that started it has exited; the container runs on.
	time.Sleep(300 * time.Millisecond)
	var views []map[string]any
	if err := json.Unmarshal([]byte(c.must("inspect", "bg")), &views); err != nil {
		t.Fatal(err)
	}
	state := views[0]["State"].(map[string]any)
	if state["Running"] != true || state["Status"] != "running" || views[0]["Id"] != id || views[0]["Name"] != "/bg" {
		t.Fatalf("inspect after the CLI exited: %v", views[0])
	}
	// The shell may not have printed yet on a busy machine: poll.
	var logs string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if logs = c.must("logs", "bg"); logs != "" {
			break
		}
	}
	if logs != "started\n" {
		t.Errorf("logs = %q", logs)
	}
	psJSON := c.must("ps", "--format", "json")
	var row map[string]any
	if err := json.Unmarshal([]byte(psJSON), &row); err != nil || row["Names"] != "bg" || row["State"] != "running" {
		t.Errorf("ps --format json = %q (%v)", psJSON, err)
	}
	if out := c.must("stop", "-t", "1", "bg"); out != "bg\n" {
		t.Errorf("stop printed %q", out)
	}
	if code := strings.TrimSpace(c.must("wait", "bg")); code != "143" {
		t.Errorf("wait printed %q, want 143 (sh killed by SIGTERM)", code)
	}
	if ps := c.must("ps", "-a"); !strings.Contains(ps, "Exited (143)") {
		t.Errorf("ps -a:\n%s", ps)
	}
	c.must("rm", "bg")
	if _, err := os.Stat(filepath.Join(c.root, "containers", id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory left after rm: %v", err)
	}
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/berth/" + id); len(m) > 0 {
		t.Errorf("cgroups left after rm: %v", m)
	}
}

func TestCLI_DetachedRmRemovesOnExit(t *testing.T) {
	c := newCLI(t)
	c.must("run", "-d", "--rm", "--name", "brief", "--rootfs", c.rootfs, "--", "sleep", "0.2")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, _, _ := c.run("ps", "-a", "-q"); out == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("run -d --rm: the container was not removed after it exited")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCLI_Errors(t *testing.T) {
	c := newCLI(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing rootfs", []string{"run", "--rootfs", "/no/such/dir", "--", "true"}, 125, "/no/such/dir"},
		{"command not found", []string{"run", "--rm", "--rootfs", c.rootfs, "--", "nosuchcmd"}, 127, "executable file not found"},
		{"not executable", []string{"run", "--rm", "--rootfs", c.rootfs, "--", "/etc/passwd"}, 126, "permission denied"},
		{"bad size", []string{"run", "--rm", "--memory", "12xb", "--rootfs", c.rootfs, "--", "true"}, 125, `--memory "12xb": not a size`},
		{"bad signal", []string{"run", "--rm", "--stop-signal", "SIGNOPE", "--rootfs", c.rootfs, "--", "true"}, 125, "invalid signal"},
		{"no such container", []string{"logs", "nope"}, 1, `container "nope": no such container`},
		{"unknown flag", []string{"run", "--bogus"}, 2, "unknown flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := c.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) || !strings.HasPrefix(errs, "error: ") {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errs, tc.code, tc.msg)
			}
		})
	}
}

func TestCLI_StdinEnvAndEnvFile(t *testing.T) {
	c := newCLI(t)
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# comment\nFROM_FILE=yes\nBOTH=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := c.runIn(strings.NewReader("piped in\n"), "run", "--rm", "-i", "--env-file", envFile, "-e", "BOTH=flag",
		"--rootfs", c.rootfs, "--", "sh", "-c", "cat; echo $FROM_FILE $BOTH")
	if code != 0 || out != "piped in\nyes flag\n" {
		t.Errorf("exit %d, out %q, err %q", code, out, errs)
	}
}

func TestCLI_TTY(t *testing.T) {
	c := newCLI(t)
	cmd := c.command("run", "--rm", "-t", "--rootfs", c.rootfs, "--", "sh", "-c", "tty; stty size")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 101})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	out, _ := io.ReadAll(ptmx) // EIO once the CLI exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("berth run -t: %v: %s", err, out)
	}
	got := strings.ReplaceAll(string(out), "\r", "")
	if !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "33 101") {
		t.Errorf("inside the TTY: %q, want /dev/pts/0 and the size 33 101", got)
	}
}

func TestCLI_KillAndRmForce(t *testing.T) {
	c := newCLI(t)
	c.must("run", "-d", "--name", "k", "--rootfs", c.rootfs, "--", "sleep", "100")
	if out := c.must("kill", "k"); out != "k\n" {
		t.Errorf("kill printed %q", out)
	}
	if code := strings.TrimSpace(c.must("wait", "k")); code != "137" {
		t.Errorf("exit after kill = %s, want 137", code)
	}
	c.must("run", "-d", "--name", "f", "--rootfs", c.rootfs, "--", "sleep", "100")
	if _, errs, code := c.run("rm", "f"); code == 0 || !strings.Contains(errs, "stop it first") {
		t.Errorf("rm of a running container: exit %d, %q", code, errs)
	}
	c.must("rm", "-f", "f", "k")
}

func TestCLI_NotRoot(t *testing.T) {
	c := newCLI(t)
	cmd := exec.Command(berthBin, "--root", c.root, "run", "--rootfs", c.rootfs, "--", "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), "berth must run as root") || !strings.Contains(string(out), "hint:") {
		t.Errorf("as nobody: %v\n%s", err, out)
	}
}

func TestCLI_BerthRootEnvAndLogsFollow(t *testing.T) {
	c := newCLI(t)
	cmd := c.command("run", "-d", "--name", "ticker", "--rootfs", c.rootfs, "--", "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.2; done")
	cmd.Args = slices.DeleteFunc(cmd.Args, func(a string) bool { return a == "--root" || a == c.root })
	cmd.Env = append(cmd.Env, "BERTH_ROOT="+c.root)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run with BERTH_ROOT: %v\n%s", err, out)
	}
	// The container is under BERTH_ROOT, so the --root the helper passes finds it.
	// logs -f returns once the container has exited, with every line.
	out := c.must("logs", "-f", "-t", "ticker")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[2], " tick 3") {
		t.Fatalf("logs -f -t = %q", out)
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0]); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	if tail := c.must("logs", "--tail", "1", "ticker"); tail != "tick 3\n" {
		t.Errorf("--tail 1 = %q", tail)
	}
}

func TestCLI_InteractiveTTY(t *testing.T) {
	c := newCLI(t)
	cmd := c.command("run", "--rm", "-it", "--rootfs", c.rootfs, "--", "sh")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	// Typed at the prompt, as a user would; the shell's exit code is the
	// container's, and so berth's.
	if _, err := ptmx.Write([]byte("echo typed-$((6*7))\rexit 3\r")); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(ptmx)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("berth run -it: %v, want exit status 3", err)
	}
	if !strings.Contains(string(out), "typed-42") {
		t.Errorf("the shell did not run what was typed: %q", out)
	}
}

// busyboxTar writes the test rootfs as a tarball, as `docker export` would.
func busyboxTar(t *testing.T, rootfs string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", p, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	return p
}

func TestCLI_ImportRunAndRemoveImage(t *testing.T) {
	c := newCLI(t)
	id := strings.TrimSpace(c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1"))
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("import printed %q, want an image id", id)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(c.must("images", "--format", "json")), &row); err != nil || row["Repository"] != "bb" || row["Tag"] != "1" {
		t.Errorf("images --format json: %v %v", row, err)
	}
	// The image's root is an overlay: writes land in the container only.
	if out := c.must("run", "--name", "first", "bb:1", "sh", "-c", "echo changed > /etc/motd; cat /etc/motd"); out != "changed\n" {
		t.Errorf("run bb:1 printed %q", out)
	}
	if out := c.must("run", "--rm", "bb:1", "sh", "-c", "cat /etc/motd 2>/dev/null || echo absent"); out != "absent\n" {
		t.Errorf("a second container sees the first one's write: %q", out)
	}
	if out := c.must("run", "--rm", "--entrypoint", "/bin/echo", "-e", "X=1", "bb:1", "via", "entrypoint"); out != "via entrypoint\n" {
		t.Errorf("--entrypoint: %q", out)
	}
	// In use by "first": refused, then -f only untags.
	if _, errs, code := c.run("rmi", "bb:1"); code == 0 || !strings.Contains(errs, "container first uses it") {
		t.Errorf("rmi of an image in use: exit %d, %q", code, errs)
	}
	c.must("tag", "bb:1", "bb:2")
	c.must("rmi", "-f", "bb:1")
	if out := c.must("run", "--rm", "bb:2", "echo", "still here"); out != "still here\n" {
		t.Errorf("after rmi -f of another name: %q", out)
	}
	c.must("rm", "first")
	c.must("rmi", "bb:2")
	if out := c.must("images", "-q"); out != "" {
		t.Errorf("images left: %q", out)
	}
	if layers, _ := filepath.Glob(filepath.Join(c.root, "layers", "*")); len(layers) != 0 {
		t.Errorf("layers left after the last image went: %v", layers)
	}
	if _, errs, code := c.run("run", "--rm", "nosuchimage", "true"); code != 125 || !strings.Contains(errs, "berth images") {
		t.Errorf("run of a missing image: exit %d, %q", code, errs)
	}
}

func TestCLI_PushPullRun(t *testing.T) {
	c := newCLI(t)
	reg := testutil.StartRegistry(t)
	name := reg.Host + "/test/bb:1"
	c.must("image", "import", busyboxTar(t, c.rootfs), name)
	// Not a terminal here: plain progress lines, one per change of state.
	out := c.must("push", name)
	if !strings.Contains(out, ": Pushed") || !strings.Contains(out, "digest: sha256:") {
		t.Errorf("push printed:\n%s", out)
	}
	c.must("rmi", name)
	out = c.must("pull", name)
	if !strings.Contains(out, ": Done") || !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("pull printed:\n%s", out)
	}
	if got := c.must("run", "--rm", name, "echo", "pulled"); got != "pulled\n" {
		t.Errorf("run of the pulled image: %q", got)
	}
	if _, errs, code := c.run("pull", reg.Host+"/test/nope:1"); code == 0 || !strings.Contains(errs, "no such image in the registry") {
		t.Errorf("pull of a missing image: exit %d, %q", code, errs)
	}
}

func TestCLI_SharedLayersDfAndPrune(t *testing.T) {
	c := newCLI(t)
	tarball := busyboxTar(t, c.rootfs)
	c.must("image", "import", tarball, "a:1")
	// The same content again, gzip-compressed: a different blob, the same
	// layer, unpacked once.
	gz := tarball + ".gz"
	if out, err := exec.Command("sh", "-c", "gzip -c "+tarball+" > "+gz).CombinedOutput(); err != nil {
		t.Fatalf("gzip: %v %s", err, out)
	}
	c.must("image", "import", gz, "b:1")
	if layers, _ := filepath.Glob(filepath.Join(c.root, "layers", "*")); len(layers) != 2 { // the dir and its .json
		t.Errorf("layers stored: %v, want one layer", layers)
	}
	df := c.must("system", "df")
	if !strings.Contains(df, "1 shared") || !strings.Contains(df, "Images          2") {
		t.Errorf("system df:\n%s", df)
	}
	c.must("run", "--name", "user", "a:1", "true")
	out := c.must("image", "prune", "-a")
	if !strings.Contains(out, "Untagged: b:1") || strings.Contains(out, "a:1") || !strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("prune -a with a:1 in use and its layer shared:\n%s", out)
	}
	c.must("rm", "user")
	c.must("image", "prune", "-a")
	if out := c.must("images", "-q"); out != "" {
		t.Errorf("images left after prune -a: %q", out)
	}
}

func TestCLI_LoginPushLogout(t *testing.T) {
	c := newCLI(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := testutil.StartRegistryWithAuth(t, "alice", "s3cret")
	name := reg.Host + "/team/bb:1"
	c.must("image", "import", busyboxTar(t, c.rootfs), name)
	if _, errs, code := c.run("push", name); code == 0 || !strings.Contains(errs, "berth login "+reg.Host) {
		t.Errorf("push without login: exit %d, %q", code, errs)
	}
	if _, errs, code := c.runIn(strings.NewReader("nope\n"), "login", "-u", "alice", "--password-stdin", reg.Host); code == 0 || !strings.Contains(errs, "refused user") {
		t.Errorf("login with a wrong password: exit %d, %q", code, errs)
	}
	if out, errs, code := c.runIn(strings.NewReader("s3cret\n"), "login", "-u", "alice", "--password-stdin", reg.Host); code != 0 || out != "Login Succeeded\n" {
		t.Fatalf("login: exit %d, %q %q", code, out, errs)
	}
	c.must("push", name)
	c.must("logout", reg.Host)
	if _, _, code := c.run("push", name); code == 0 {
		t.Error("push worked after logout")
	}
}
