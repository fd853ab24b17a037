package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
	"github.com/berthproject/berth/runtime/containerinit"
)

func TestRun_HostnameAndPIDIsolation(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "hostname; echo pid=$$; ps -o pid,comm | wc -l; cat /etc/hostname")
	cfg.Hostname = "inside"
	out, st := run(t, m, cfg)
	if st.ExitCode != 0 {
		t.Fatalf("exit %d: %s", st.ExitCode, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "inside" {
		t.Errorf("hostname = %q, want inside", lines[0])
	}
	host, _ := os.Hostname()
	if host == "inside" {
		t.Errorf("the host's hostname changed to %q", host)
	}
	// berth's init is PID 1, so the shell is a low pid, and ps sees only
	// the container: header, init, sh, ps, wc (and no host process).
	if pid, _ := strconv.Atoi(strings.TrimPrefix(lines[1], "pid=")); pid < 2 || pid > 20 {
		t.Errorf("shell pid = %s, want a small pid in a fresh PID namespace", lines[1])
	}
	if n, _ := strconv.Atoi(lines[2]); n > 6 {
		t.Errorf("ps saw %d lines inside the container; the host's processes leak in:\n%s", n, out)
	}
	if lines[3] != "inside" {
		t.Errorf("/etc/hostname = %q", lines[3])
	}
}

func TestRun_InitIsPID1(t *testing.T) {
	m := testManager(t)
	out, _ := run(t, m, baseConfig(t, "cat", "/proc/1/comm"))
	if strings.TrimSpace(out) != "berth-init" {
		t.Errorf("PID 1 is %q, want berth-init", out)
	}
}

func TestRun_MountInsideInvisibleOutside(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "mount -t tmpfs none /mnt && touch /mnt/marker && grep -c ' /mnt ' /proc/self/mountinfo")
	cfg.Mounts = []Mount{{Type: "tmpfs", Destination: "/scratch"}}
	out, st := run(t, m, cfg)
	// Docker's caps lack CAP_SYS_ADMIN, so mount(8) inside fails: the
	// container cannot even try. That is the first half of the check.
	if st.ExitCode == 0 {
		t.Errorf("mount inside the container succeeded without CAP_SYS_ADMIN: %s", out)
	}
	// The second half: berth's own mounts (rootfs, /proc, the tmpfs) never
	// show up in the host's mount table.
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(host), cfg.Rootfs) {
		t.Errorf("a mount under the rootfs %s leaked to the host:\n%s", cfg.Rootfs, host)
	}
	out, _ = run(t, m, baseConfig(t, "grep", "-c", " /scratch ", "/proc/self/mountinfo"))
	if strings.TrimSpace(out) != "0" {
		t.Errorf("a second container sees the first one's tmpfs: %s", out)
	}
}

func TestRun_TmpfsAndBindVolumes(t *testing.T) {
	m := testManager(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(t, "sh", "-c", "cat /data/in.txt; echo back > /data/out.txt; grep ' /scratch ' /proc/self/mounts; touch /ro/x 2>&1 || echo ro-ok")
	cfg.Mounts = []Mount{
		{Type: "bind", Source: host, Destination: "/data"},
		{Type: "bind", Source: host, Destination: "/ro", ReadOnly: true},
		{Type: "tmpfs", Destination: "/scratch", Options: []string{"size=1m"}},
	}
	out, st := run(t, m, cfg)
	if st.ExitCode != 0 {
		t.Fatalf("exit %d: %s", st.ExitCode, out)
	}
	if !strings.Contains(out, "from host") || !strings.Contains(out, "ro-ok") || !strings.Contains(out, "tmpfs /scratch tmpfs rw,nosuid,nodev,noexec") {
		t.Errorf("unexpected output:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "out.txt")); string(b) != "back\n" {
		t.Errorf("write through the bind mount: got %q", b)
	}
}

func TestRun_ReadOnlyRootfs(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "touch /newfile && echo wrote; touch /dev/shm/ok && echo shm-ok")
	cfg.ReadOnly = true
	out, _ := run(t, m, cfg)
	if strings.Contains(out, "wrote") || !strings.Contains(out, "Read-only file system") {
		t.Errorf("write to a read-only rootfs: %s", out)
	}
	if !strings.Contains(out, "shm-ok") {
		t.Errorf("/dev/shm must stay writable: %s", out)
	}
	if _, err := os.Stat(filepath.Join(cfg.Rootfs, "newfile")); err == nil {
		t.Error("the file landed in the rootfs")
	}
}

func TestRun_OOMKillReported(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "x=aaaaaaaa; while true; do x=$x$x; done")
	cfg.Resources = Resources{Memory: 64 << 20, MemorySwap: 64 << 20}
	cfg.Name = "hog"
	_, st := run(t, m, cfg)
	if st.ExitCode != 137 || !st.OOMKilled {
		t.Errorf("exit = %+v, want 137 and OOMKilled", st)
	}
	c, err := m.Get("hog")
	if err != nil {
		t.Fatal(err)
	}
	if !c.State.OOMKilled || c.State.ExitCode != 137 || c.State.Status != StatusExited {
		t.Errorf("state = %+v, want exited 137 OOMKilled", c.State)
	}
}

func TestRun_PidsLimitStopsForkBomb(t *testing.T) {
	m := testManager(t)
	// A fork bomb in miniature: 60 background sleeps under pids.max=20.
	// The forks past the limit fail, and the container, its init
	// included, lives on to report it.
	cfg := baseConfig(t, "sh", "-c", "(for i in $(seq 60); do sleep 3 & done) 2>/dev/null; echo survived; exit 0")
	cfg.Resources.PidsLimit = 20
	c, err := m.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Start(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	pids := func() int {
		b, _ := os.ReadFile("/sys/fs/cgroup/pids/berth/" + c.ID + "/pids.current")
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	peak := 0
	for i := 0; i < 20; i++ {
		peak = max(peak, pids())
		time.Sleep(10 * time.Millisecond)
	}
	st := p.Wait()
	var out strings.Builder
	_ = m.ReadLogs(context.Background(), c, LogOptions{Tail: -1}, func(e LogEntry) { out.WriteString(e.Log) })
	if st.ExitCode != 0 || out.String() != "survived\n" {
		initLog, _ := os.ReadFile(filepath.Join(c.Dir, initLogFile))
		t.Errorf("exit %d, output %q: the container did not survive its fork bomb; init.log:\n%s", st.ExitCode, out.String(), initLog)
	}
	if unified, _ := isUnified(cgroupRoot); !unified && (peak == 0 || peak > 20) {
		t.Errorf("pids.current peaked at %d, want 1..20", peak)
	}
}

func TestRun_CPULimitsWrittenToCgroup(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sleep", "30")
	cfg.Resources = Resources{NanoCPUs: 1_500_000_000, CPUShares: 512}
	c := startDetached(t, m, cfg)
	quota, period, shares := readCPU(t, c.ID)
	if quota != 150000 || period != 100000 {
		t.Errorf("quota/period = %d/%d, want 150000/100000", quota, period)
	}
	if shares != 512 && shares != 0 {
		t.Errorf("shares/weight = %d", shares)
	}
}

func TestRun_ExitCodes(t *testing.T) {
	m := testManager(t)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"success", []string{"true"}, 0},
		{"failure", []string{"sh", "-c", "exit 3"}, 3},
		{"killed by a signal", []string{"sh", "-c", "kill -TERM $$"}, 143},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, st := run(t, m, baseConfig(t, tc.args...))
			if st.ExitCode != tc.code {
				t.Errorf("exit code = %d, want %d", st.ExitCode, tc.code)
			}
		})
	}
}

func TestRun_CommandErrors(t *testing.T) {
	m := testManager(t)
	rootfs := baseConfig(t).Rootfs
	if err := os.WriteFile(filepath.Join(rootfs, "notexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Executable by its mode but of no format the kernel runs: only the
	// exec itself fails (in berth-shim's gate, when there is a shim).
	if err := os.WriteFile(filepath.Join(rootfs, "badformat"), []byte("not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"not found in PATH", []string{"nosuchcmd"}, ExitNotFound, "executable file not found"},
		{"missing path", []string{"/no/such"}, ExitNotFound, "no such file"},
		{"not executable", []string{"/notexec"}, ExitCannotExecute, "permission denied"},
		{"a directory", []string{"/bin"}, ExitCannotExecute, "is a directory"},
		{"bad format", []string{"/badformat"}, ExitCannotExecute, `exec "/badformat": exec format error`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tryRun(m, Config{Rootfs: rootfs, Args: tc.args})
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a StartError", err)
			}
			if se.Code != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got code %d %q, want %d and %q", se.Code, err, tc.code, tc.msg)
			}
		})
	}
}

func TestRun_UserSwitching(t *testing.T) {
	m := testManager(t)
	cases := []struct {
		user, want string
	}{
		{"", "uid=0(root) gid=0(root)"},
		{"alice", "uid=1000(alice) gid=1000(alice) groups=50(staff)"},
		{"1001", "uid=1001(bob) gid=1001(bob) groups=50(staff)"},
		{"alice:staff", "uid=1000(alice) gid=50(staff)"},
		{"4242:4343", "uid=4242 gid=4343"},
	}
	for _, tc := range cases {
		t.Run("user "+tc.user, func(t *testing.T) {
			cfg := baseConfig(t, "sh", "-c", "id; echo HOME=$HOME")
			cfg.User = tc.user
			out, st := run(t, m, cfg)
			if st.ExitCode != 0 || !strings.HasPrefix(out, tc.want) {
				t.Errorf("id = %q (exit %d), want prefix %q", out, st.ExitCode, tc.want)
			}
		})
	}
	t.Run("unknown name", func(t *testing.T) {
		cfg := baseConfig(t, "id")
		cfg.User = "mallory"
		_, _, err := tryRun(m, cfg)
		if err == nil || !strings.Contains(err.Error(), "unable to find user mallory") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestRun_CapabilitiesAndNoNewPrivs(t *testing.T) {
	m := testManager(t)
	out, _ := run(t, m, baseConfig(t, "grep", "-E", "^(CapEff|CapBnd|CapPrm|CapInh|CapAmb|NoNewPrivs)", "/proc/self/status"))
	for _, want := range []string{
		"CapInh:\t0000000000000000", "CapPrm:\t00000000a80425fb", "CapEff:\t00000000a80425fb",
		"CapBnd:\t00000000a80425fb", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	cfg := baseConfig(t, "grep", "-E", "^CapEff", "/proc/self/status")
	cfg.User = "alice"
	out, _ = run(t, m, cfg)
	if !strings.Contains(out, "CapEff:\t0000000000000000") {
		t.Errorf("a non-root user keeps capabilities: %s", out)
	}
}

func TestRun_NoHostFDsInside(t *testing.T) {
	m := testManager(t)
	// ls itself opens fd 3 for the directory it lists; anything beyond
	// that was inherited.
	out, _ := run(t, m, baseConfig(t, "ls", "/proc/self/fd"))
	if got := strings.Join(strings.Fields(out), " "); got != "0 1 2 3" {
		t.Errorf("the workload holds fds %q, want only 0 1 2 (and ls's own 3)", got)
	}
	out, _ = run(t, m, baseConfig(t, "ls", "-l", "/proc/1/exe", "/proc/1/fd/"))
	if !strings.Contains(out, "Permission denied") || strings.Contains(out, "->") {
		t.Errorf("the init's /proc/1 is readable from the container:\n%s", out)
	}
}

func TestRun_MaskedAndReadOnlyPaths(t *testing.T) {
	m := testManager(t)
	out, _ := run(t, m, baseConfig(t, "sh", "-c", "exec 2>&1; wc -c < /proc/timer_list; echo 1 > /proc/sysrq-trigger 2>&1 || echo sysrq-ro; touch /sys/x 2>&1 || echo sys-ro; ls /sys/firmware | wc -l"))
	lines := strings.Fields(out)
	if len(lines) == 0 || lines[0] != "0" {
		t.Errorf("/proc/timer_list is not masked: %q", out)
	}
	if !strings.Contains(out, "sysrq-ro") || !strings.Contains(out, "sys-ro") {
		t.Errorf("write-protected paths were writable: %q", out)
	}
}

func TestRun_EnvWorkdirAndEtcFiles(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "pwd; echo $FOO $PATH $HOME; cat /etc/hosts | head -1; ls /dev | tr '\\n' ' '")
	cfg.Env = []string{"FOO=bar"}
	cfg.WorkingDir = "/work/dir"
	out, _ := run(t, m, cfg)
	for _, want := range []string{"/work/dir\n", "bar " + containerinit.DefaultPath + " /root", "127.0.0.1\tlocalhost", "null", "urandom", "ptmx", "pts", "shm", "mqueue", "stdin"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestDetached_LogsStopAndRemove(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo hello; echo oops >&2; while true; do sleep 0.1; done")
	cfg.Name = "web"
	c := startDetached(t, m, cfg)
	if !c.State.Running || c.State.Pid == 0 {
		t.Fatalf("state after start = %+v", c.State)
	}
	eventually(t, "the output in the log", func() bool {
		var got []string
		_ = m.ReadLogs(context.Background(), c, LogOptions{Tail: -1}, func(e LogEntry) { got = append(got, e.Stream+":"+e.Log) })
		// stdout and stderr are separate pipes: their order is not kept.
		sort.Strings(got)
		return strings.Join(got, "") == "stderr:oops\nstdout:hello\n"
	})
	if err := m.Stop(context.Background(), c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c, _ = m.Get("web")
	if c.State.Status != StatusExited || c.State.ExitCode != 0 {
		t.Errorf("after stop: %+v, want exited 0 (the trap ran)", c.State)
	}
	var tail []string
	_ = m.ReadLogs(context.Background(), c, LogOptions{Tail: 1}, func(e LogEntry) { tail = append(tail, e.Log) })
	if len(tail) != 1 || tail[0] != "got TERM\n" {
		t.Errorf("tail 1 = %q", tail)
	}
	if err := m.Remove(context.Background(), c, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory left after rm: %v", err)
	}
	if _, err := m.Get("web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after rm: %v", err)
	}
	assertNoCgroup(t, c.ID)
}

func TestStop_GracePeriodThenKill(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done")
	c := startDetached(t, m, cfg)
	eventually(t, "the trap to be set", func() bool {
		b, _ := os.ReadFile(c.LogPath())
		return strings.Contains(string(b), "ready")
	})
	began := time.Now()
	if err := m.Stop(context.Background(), c, 1*time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	c, _ = m.Get(c.ID)
	if c.State.ExitCode != 137 {
		t.Errorf("exit code = %d, want 137 (SIGKILL after the grace period)", c.State.ExitCode)
	}
	if took < time.Second {
		t.Errorf("stop took %v: it did not wait the grace period", took)
	}
}

func TestKill_SignalForwarded(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sh", "-c", "trap 'echo usr1; exit 7' USR1; echo ready; while true; do sleep 0.1; done"))
	eventually(t, "the trap to be set", func() bool {
		b, _ := os.ReadFile(c.LogPath())
		return strings.Contains(string(b), "ready")
	})
	if err := m.Kill(c, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	st, err := m.Wait(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 7 {
		t.Errorf("exit code = %d, want 7 from the USR1 trap", st.ExitCode)
	}
}

func TestRemove_RunningNeedsForce(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "60"))
	if err := m.Remove(context.Background(), c, false); !errors.Is(err, ErrRunning) {
		t.Fatalf("rm of a running container: %v, want ErrRunning", err)
	}
	pid := c.State.Pid
	if err := m.Remove(context.Background(), c, true); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(pid, 0); err == nil {
		if st, _ := procStartTime(pid); st != 0 {
			t.Errorf("init pid %d still alive after rm -f", pid)
		}
	}
	assertNoCgroup(t, c.ID)
}

func TestCreate_NamesAreUnique(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "true")
	cfg.Name = "one"
	if _, err := m.Create(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(cfg); !errors.Is(err, ErrNameInUse) {
		t.Errorf("second create with the same name: %v", err)
	}
	cfg.Name = "bad/name"
	if _, err := m.Create(cfg); err == nil {
		t.Error("a name with a slash was accepted")
	}
}

func TestCreate_GivenIDAndNewName(t *testing.T) {
	m := testManager(t)
	id, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(t, "true")
	cfg.ID, cfg.Name = id, m.NewName()
	c, err := m.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Config.Hostname != id[:12] || c.Config.ID != "" {
		t.Errorf("created %s (hostname %s, config id %q), want id %s", c.ID, c.Config.Hostname, c.Config.ID, id)
	}
	if got, err := m.Get(cfg.Name); err != nil || got.ID != id {
		t.Errorf("Get(%s) = %v, %v", cfg.Name, got, err)
	}
	cfg.Name = "other"
	if _, err := m.Create(cfg); err == nil {
		t.Error("a second container got the same id")
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "config.json")); err != nil {
		t.Errorf("the refused create took the first container's files: %v", err)
	}
	if name := m.NewName(); name == cfg.Name {
		t.Errorf("NewName gave %s, which is taken", name)
	}
	cfg.ID, cfg.Name = "not-hex", ""
	if _, err := m.Create(cfg); err == nil {
		t.Error("an id that is not 64 hex digits was accepted")
	}
}

func readCPU(t *testing.T, id string) (quota, period, shares int64) {
	t.Helper()
	read := func(p string) int64 {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0
		}
		n, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		return n
	}
	if unified, _ := isUnified(cgroupRoot); unified {
		b, err := os.ReadFile(fmt.Sprintf("/sys/fs/cgroup/berth/%s/cpu.max", id))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		quota, _ = strconv.ParseInt(f[0], 10, 64)
		period, _ = strconv.ParseInt(f[1], 10, 64)
		return quota, period, 0
	}
	base := "/sys/fs/cgroup/cpu/berth/" + id + "/"
	return read(base + "cpu.cfs_quota_us"), read(base + "cpu.cfs_period_us"), read(base + "cpu.shares")
}

func TestRun_InitOutsideMemoryAndPidsGroups(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "30"))
	kids := children(c.State.Pid)
	if len(kids) != 1 {
		initLog, _ := os.ReadFile(filepath.Join(c.Dir, initLogFile))
		t.Fatalf("init has children %v, want the workload alone; state %+v; init.log:\n%s", kids, c.State, initLog)
	}
	read := func(pid int) string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	initCg, workCg := read(c.State.Pid), read(kids[0])
	group := "/berth/" + c.ID
	if unified, _ := isUnified(cgroupRoot); unified {
		// v2 keeps a process's threads in one group: the init is inside.
		if !strings.Contains(workCg, "0::"+group) {
			t.Errorf("workload cgroups:\n%s", workCg)
		}
		return
	}
	for _, ctrl := range []string{"memory", "pids"} {
		if !strings.Contains(workCg, ":"+ctrl+":"+group+"\n") {
			t.Errorf("workload is not in %s group %s:\n%s", ctrl, group, workCg)
		}
		if !strings.Contains(initCg, ":"+ctrl+":/berth\n") {
			t.Errorf("init is not in the %s parent /berth:\n%s", ctrl, initCg)
		}
	}
	if !strings.Contains(initCg, ":cpu:"+group+"\n") && !strings.Contains(initCg, ","+"cpu"+":"+group+"\n") && !strings.Contains(initCg, "cpu,cpuacct:"+group) {
		t.Errorf("init is not in the container's cpu group:\n%s", initCg)
	}
}

func TestKill_RealTimeSignalForwarded(t *testing.T) {
	m := testManager(t)
	// systemd and others stop on SIGRTMIN+3 (37); the init catches the
	// real-time signals only once the container runs, so keep sending
	// until the trap fires.
	c := startDetached(t, m, baseConfig(t, "sh", "-c", "trap 'exit 9' 37; echo ready; while true; do sleep 0.05; done"))
	eventually(t, "the trap to be set", func() bool {
		b, _ := os.ReadFile(c.LogPath())
		return strings.Contains(string(b), "ready")
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		fresh, err := m.Get(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !fresh.State.Running {
			if fresh.State.ExitCode != 9 {
				t.Errorf("exit code %d, want 9 from the trap on signal 37", fresh.State.ExitCode)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("signal 37 never reached the workload")
		}
		_ = m.Kill(fresh, unix.Signal(37))
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRun_OverlayOfLayers(t *testing.T) {
	m := testManager(t)
	base := testutil.BusyboxRootfs(t)
	if err := os.WriteFile(filepath.Join(base, "etc", "gone"), []byte("lower"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A second layer: a new file, and an overlayfs whiteout (a 0/0
	// character device) hiding a file of the layer below.
	top := t.TempDir()
	if err := os.MkdirAll(filepath.Join(top, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(top, "etc", "added"), []byte("from the top layer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(top, "etc", "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Layers: []string{base, top}, Args: []string{"sh", "-c", "cat /etc/added; ls /etc/gone 2>&1; echo new > /written; cat /written"}}
	c, err := m.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	p, err := m.Start(c, &Stdio{Out: w, Err: w})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	st := p.Wait()
	if st.ExitCode != 0 || !strings.Contains(string(out), "from the top layer") || !strings.Contains(string(out), "No such file") {
		t.Errorf("exit %d, output:\n%s", st.ExitCode, out)
	}
	// The write landed in the container's upper directory, not a layer.
	if b, err := os.ReadFile(filepath.Join(c.Dir, "upper", "written")); err != nil || string(b) != "new\n" {
		t.Errorf("upper/written = %q, %v", b, err)
	}
	for _, l := range []string{base, top} {
		if _, err := os.Stat(filepath.Join(l, "written")); err == nil {
			t.Errorf("the write reached layer %s", l)
		}
	}
	host, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(host), c.ID) {
		t.Error("the overlay is mounted on the host")
	}
}

func TestRun_SeesOwnCgroupLimits(t *testing.T) {
	m := testManager(t)
	file := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	if unified, _ := isUnified(cgroupRoot); unified {
		file = "/sys/fs/cgroup/memory.max"
	}
	cfg := baseConfig(t, "sh", "-c", "exec 2>&1; cat "+file+"; echo 1 > "+file+" || echo read-only")
	cfg.Resources.Memory = 96 << 20
	out, st := run(t, m, cfg)
	if st.ExitCode != 0 || !strings.HasPrefix(out, "100663296\n") || !strings.Contains(out, "read-only") {
		t.Errorf("exit %d, output %q: want the container's own limit, read-only", st.ExitCode, out)
	}
}

func TestRun_DeviceRulesRefuseOtherDevices(t *testing.T) {
	m := testManager(t)
	// CAP_MKNOD lets root in the container make any node (Docker grants
	// it too); the cgroup's device rules must still refuse opening it.
	out, _ := run(t, m, baseConfig(t, "sh", "-c", "exec 2>&1; mknod /tmp/mem c 1 1 && { head -c 1 /tmp/mem >/dev/null && echo opened || echo refused; }"))
	if !strings.Contains(out, "refused") || strings.Contains(out, "opened") {
		t.Errorf("a host device made with mknod could be opened:\n%s", out)
	}
}

func TestRun_ShortLivedWorkloads(t *testing.T) {
	m := testManager(t)
	rootfs := baseConfig(t).Rootfs
	// A workload that ends at once can take its init with it before the
	// start has finished its own bookkeeping; no start may fail for that.
	for i := 0; i < 10; i++ {
		if _, st, err := tryRun(m, Config{Rootfs: rootfs, Args: []string{"true"}}); err != nil || st.ExitCode != 0 {
			t.Fatalf("run %d: exit %d, %v", i, st.ExitCode, err)
		}
	}
}

// TestRun_ManyLayers: more layers than one page of overlay options holds
// with their full paths (Docker images have up to 125).
func TestRun_ManyLayers(t *testing.T) {
	m := testManager(t)
	layers := []string{testutil.BusyboxRootfs(t)}
	long := filepath.Join(t.TempDir(), strings.Repeat("l", 64))
	for i := 1; i < 125; i++ {
		dir := filepath.Join(long, fmt.Sprintf("%064d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, dir)
	}
	out, st := run(t, m, Config{Layers: layers, Args: []string{"sh", "-c", "exec 2>&1; ls / | grep -c '^f'; cat /f1 /f124"}})
	if st.ExitCode != 0 || out != "124\nxx" {
		t.Errorf("exit %d, output %q", st.ExitCode, out)
	}
}
