package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun_OnCgroupV2 runs whole containers on a unified hierarchy: the
// host's own, or the cgroup2 mount of a hybrid host (this one's holds no
// controller berth limits with, but groups, placement, the cgroup
// namespace and the eBPF device filter all work there).
func TestRun_OnCgroupV2(t *testing.T) {
	mount, _ := cgRequireV2(t)
	// Registered before testManager's cleanup, so it runs after it: the
	// containers are removed from the v2 hierarchy they were made on.
	oldRoot, oldRequired := cgroupRoot, v2Required
	t.Cleanup(func() { cgroupRoot, v2Required = oldRoot, oldRequired })
	cgroupRoot = mount
	if mount != "/sys/fs/cgroup" {
		// A hybrid host's cgroup2 mount has none of the controllers
		// (they are on v1), so this container runs without limits.
		v2Required = nil
	}
	m := testManager(t)

	// /dev/kmsg is not among a container's devices; the container may
	// mknod it (CAP_MKNOD), but the device filter must refuse opening it.
	c := startDetached(t, m, baseConfig(t, "sh", "-c", "exec 2>&1; cat /proc/self/cgroup; head -c 4 /dev/zero | wc -c; mknod /tmp/kmsg c 1 11 && { head -c 1 /tmp/kmsg || echo kmsg-denied; }; echo end; sleep 30"))
	eventually(t, "the container's output", func() bool {
		b, _ := os.ReadFile(c.LogPath())
		return strings.Contains(string(b), "end")
	})
	var out strings.Builder
	for _, line := range readLogLines(t, m, c) {
		out.WriteString(line)
	}
	if !strings.Contains(out.String(), "0::/\n") {
		t.Errorf("inside, the cgroup is not \"/\":\n%s", out.String())
	}
	if !strings.Contains(out.String(), "4\n") || !strings.Contains(out.String(), "kmsg-denied") {
		t.Errorf("device filter: /dev/zero must work and /dev/kmsg be denied:\n%s", out.String())
	}
	group := "/" + cgroupParent + "/" + c.ID
	procCgroup := func(pid int) string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "0::") {
				return strings.TrimPrefix(line, "0::")
			}
		}
		return ""
	}
	kids := children(c.State.Pid)
	if len(kids) != 1 {
		t.Fatalf("init has children %v", kids)
	}
	if got := procCgroup(kids[0]); got != group {
		t.Errorf("workload is in %q, want %q", got, group)
	}
	if got := procCgroup(c.State.Pid); got != group+".init" {
		t.Errorf("init is in %q, want its own leaf %q", got, group+".init")
	}
	// An exec'd process is the workload's: in its group, not the init's
	// leaf, which inside the cgroup namespace would read "/../<id>.init".
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	code, err := m.Exec(t.Context(), c, ExecConfig{Args: []string{"cat", "/proc/self/cgroup"}}, &Stdio{Out: w})
	w.Close()
	got, _ := io.ReadAll(r)
	r.Close()
	if code != 0 || err != nil || !strings.Contains(string(got), "0::/\n") {
		t.Errorf("exec'd process: exit %d, %v; /proc/self/cgroup:\n%s", code, err, got)
	}
	if err := m.Remove(t.Context(), c, true); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{group, group + ".init"} {
		if _, err := os.Stat(filepath.Join(mount, dir)); !os.IsNotExist(err) {
			t.Errorf("%s left after rm (%v)", dir, err)
		}
	}
}

func readLogLines(t *testing.T, m *Manager, c *Container) []string {
	t.Helper()
	var lines []string
	if err := m.ReadLogs(t.Context(), c, LogOptions{Tail: -1}, func(e LogEntry) { lines = append(lines, e.Log) }); err != nil {
		t.Fatal(err)
	}
	return lines
}
