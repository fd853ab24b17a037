package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// cgRequireV1 skips t unless we are root on a v1 or hybrid host, and returns
// what the host offers.
func cgRequireV1(t *testing.T) v1Host {
	t.Helper()
	testutil.RequireRoot(t)
	unified, err := isUnified(cgroupRoot)
	if err != nil {
		t.Fatal(err)
	}
	if unified {
		t.Skip("this host has only cgroup v2; TestCgroupV2Unified covers it")
	}
	h, err := probeV1(cgroupRoot)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// cgV1Dir is the group of id in the v1 hierarchy of controller.
func cgV1Dir(controller, id string) string {
	return filepath.Join(cgroupRoot, controller, cgroupParent, id)
}

func TestCgroupV1(t *testing.T) {
	h := cgRequireV1(t)
	id := cgTestID(t)
	r := Resources{Memory: 64 * mib, MemorySwap: 96 * mib, NanoCPUs: 1.5e9, CPUShares: 512, PidsLimit: 100}
	cg, err := newCgroupV1(cgroupRoot, id, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })

	want := map[string]string{
		"memory/memory.limit_in_bytes": strconv.Itoa(64 * mib),
		// Swap is allowed and capped, so reclaim may swap as the host does.
		"memory/memory.swappiness": cgReadFile(t, filepath.Join(cgroupRoot, "memory", "memory.swappiness")),
		"cpu/cpu.cfs_quota_us":     "150000",
		"cpu/cpu.cfs_period_us":    "100000",
		"cpu/cpu.shares":           "512",
		"pids/pids.max":            "100",
	}
	if h.memsw {
		want["memory/memory.memsw.limit_in_bytes"] = strconv.Itoa(96 * mib)
	} else {
		t.Log("kernel accounts no swap (no memory.memsw.*); not checking memsw")
	}
	for file, value := range want {
		ctrl, name, _ := strings.Cut(file, "/")
		if got := cgReadFile(t, filepath.Join(cgV1Dir(ctrl, id), name)); got != value {
			t.Errorf("%s = %s, want %s", file, got, value)
		}
	}

	var rules []string
	for _, line := range strings.Split(cgReadFile(t, filepath.Join(cgV1Dir("devices", id), "devices.list")), "\n") {
		rules = append(rules, "allow "+line)
	}
	var wantRules []string
	for _, d := range defaultDevices()[1:] { // what is left after "deny all"
		wantRules = append(wantRules, d.String())
	}
	slices.Sort(rules)
	slices.Sort(wantRules)
	if !slices.Equal(rules, wantRules) {
		t.Errorf("devices.list allows\n%q\nwant\n%q", rules, wantRules)
	}

	if got, want := cg.OOMEventsPath(), filepath.Join(cgV1Dir("memory", id), "memory.oom_control"); got != want {
		t.Errorf("OOMEventsPath() = %s, want %s", got, want)
	}
	if oom := cgReadFile(t, cg.OOMEventsPath()); !strings.Contains(oom, "oom_kill 0") {
		t.Errorf("memory.oom_control has no oom_kill counter (needs Linux >= 4.13):\n%s", oom)
	}

	sleep := cgStartSleep(t)
	pid := sleep.Process.Pid
	if err := cg.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	if procs, err := cg.Procs(); err != nil || !slices.Equal(procs, []int{pid}) {
		t.Errorf("Procs() = %v, %v; want [%d]", procs, err, pid)
	}
	// The process is in the group in every hierarchy berth uses.
	joined := map[string]string{} // controller -> path, from /proc/<pid>/cgroup
	for _, line := range strings.Split(cgReadFile(t, "/proc/"+strconv.Itoa(pid)+"/cgroup"), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 {
			for _, ctrl := range strings.Split(f[1], ",") {
				joined[ctrl] = f[2]
			}
		}
	}
	for _, ctrl := range slices.Concat(v1Required, v1Optional) {
		if cgFileExists(filepath.Join(cgroupRoot, string(ctrl))) && joined[string(ctrl)] != groupPath(id) {
			t.Errorf("pid %d is in %s:%s, want %s", pid, ctrl, joined[string(ctrl)], groupPath(id))
		}
	}
	if _, ok := joined["cpuset"]; ok && joined["cpuset"] != "/" {
		t.Errorf("pid %d was moved into cpuset:%s; berth leaves cpuset alone", pid, joined["cpuset"])
	}

	if err := cg.Delete(); err == nil {
		t.Fatal("Delete of a group with a live process succeeded")
	}
	cgStopSleep(t, sleep)
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range h.dirs {
		cgCheckGone(t, filepath.Join(dir, cgroupParent, id))
	}
	if err := cg.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}

	gone, err := loadCgroupV1(cgroupRoot, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Delete(); err != nil {
		t.Errorf("Delete of a missing group: %v", err)
	}
	if err := gone.AddProc(os.Getpid()); err == nil {
		t.Error("AddProc to a missing group succeeded")
	}
}

func cgFileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestCgroupV1_Memory checks the swap rules against the kernel's files.
func TestCgroupV1_Memory(t *testing.T) {
	h := cgRequireV1(t)
	hostSwappiness := cgReadFile(t, filepath.Join(cgroupRoot, "memory", "memory.swappiness"))
	unlimited := cgReadFile(t, filepath.Join(cgroupRoot, "memory", "memory.limit_in_bytes"))
	tests := []struct {
		name       string
		r          Resources
		limit      string
		memsw      string // checked only where the kernel accounts swap
		swappiness string
	}{
		{"no limit", Resources{}, unlimited, unlimited, hostSwappiness},
		{"swap defaults to twice memory", Resources{Memory: 32 * mib}, strconv.Itoa(32 * mib), strconv.Itoa(64 * mib), hostSwappiness},
		{"no swap", Resources{Memory: 32 * mib, MemorySwap: 32 * mib}, strconv.Itoa(32 * mib), strconv.Itoa(32 * mib), "0"},
		{"unlimited swap", Resources{Memory: 32 * mib, MemorySwap: -1}, strconv.Itoa(32 * mib), unlimited, hostSwappiness},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := cgTestID(t)
			cg, err := newCgroupV1(cgroupRoot, id, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cg.Delete() })
			dir := cgV1Dir("memory", id)
			if got := cgReadFile(t, filepath.Join(dir, "memory.limit_in_bytes")); got != tt.limit {
				t.Errorf("memory.limit_in_bytes = %s, want %s", got, tt.limit)
			}
			if got := cgReadFile(t, filepath.Join(dir, "memory.swappiness")); got != tt.swappiness {
				t.Errorf("memory.swappiness = %s, want %s", got, tt.swappiness)
			}
			if !h.memsw {
				return
			}
			if got := cgReadFile(t, filepath.Join(dir, "memory.memsw.limit_in_bytes")); got != tt.memsw {
				t.Errorf("memory.memsw.limit_in_bytes = %s, want %s", got, tt.memsw)
			}
		})
	}
}

func TestCgroupV1_Devices(t *testing.T) {
	cgRequireV1(t)
	cg, err := newCgroupV1(cgroupRoot, cgTestID(t), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })
	checkDevicesEnforced(t, cg)
}

func TestCgroupV1_Missing(t *testing.T) {
	root := t.TempDir() // a tmpfs-like root with no hierarchy mounted in it
	if err := os.Mkdir(filepath.Join(root, "memory"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := newCgroupV1(root, "c1", Resources{})
	if err == nil || !strings.Contains(err.Error(), "the cgroup v1 memory controller is not available at "+filepath.Join(root, "memory")) {
		t.Errorf("newCgroupV1 on an empty root: %v, want the memory controller reported missing", err)
	}
	if _, err := os.Stat(filepath.Join(root, "memory", cgroupParent)); err == nil {
		t.Error("a group was made in a directory that is no cgroup mount")
	}
}
