package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// cgFakeV2 makes a directory that looks to newCgroupV2 like a unified
// hierarchy offering controllers, with the group of id already made and
// holding files, as the kernel would make them. swap says whether the
// kernel accounts swap (memory.swap.max exists).
func cgFakeV2(t *testing.T, controllers, id string, swap bool) (mount, group string) {
	t.Helper()
	mount = t.TempDir()
	group = filepath.Join(mount, cgroupParent, id)
	files := map[string]string{
		"cgroup.controllers":                                  controllers + "\n",
		"cgroup.subtree_control":                              "",
		filepath.Join(cgroupParent, "cgroup.subtree_control"): "",
	}
	for _, f := range []string{"memory.max", "cpu.max", "cpu.weight", "pids.max", "memory.events"} {
		files[filepath.Join(cgroupParent, id, f)] = "untouched"
	}
	if swap {
		files[filepath.Join(cgroupParent, id, "memory.swap.max")] = "untouched"
	}
	for name, content := range files {
		p := filepath.Join(mount, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return mount, group
}

func TestCgroupV2Fake(t *testing.T) {
	const id = "web-1"
	mount, group := cgFakeV2(t, "cpuset cpu io memory hugetlb pids rdma misc", id, true)
	controllers, err := v2Controllers(mount)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"cpu", "memory", "pids", "io"}; !slices.Equal(controllers, want) {
		t.Errorf("v2Controllers = %q, want %q", controllers, want)
	}
	r := Resources{Memory: 64 * mib, MemorySwap: 96 * mib, NanoCPUs: 1.5e9, CPUShares: 512, PidsLimit: 100}
	cg, err := newCgroupV2(mount, id, r, controllers, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })

	for file, want := range map[string]string{
		filepath.Join(group, "memory.max"):                           strconv.Itoa(64 * mib),
		filepath.Join(group, "memory.swap.max"):                      strconv.Itoa(32 * mib),
		filepath.Join(group, "cpu.max"):                              "150000 100000",
		filepath.Join(group, "cpu.weight"):                           "20",
		filepath.Join(group, "pids.max"):                             "100",
		filepath.Join(mount, "cgroup.subtree_control"):               "+cpu +memory +pids +io",
		filepath.Join(mount, cgroupParent, "cgroup.subtree_control"): "+cpu +memory +pids +io",
	} {
		if got := cgReadFile(t, file); got != want {
			t.Errorf("%s = %q, want %q", strings.TrimPrefix(file, mount), got, want)
		}
	}
	if got, want := cg.OOMEventsPath(), filepath.Join(group, "memory.events"); got != want {
		t.Errorf("OOMEventsPath() = %s, want %s", got, want)
	}
	if procs, err := cg.Procs(); err != nil || len(procs) != 0 {
		t.Errorf("Procs() = %v, %v; want none", procs, err)
	}
	// rmdir takes a cgroup's interface files with it, a plain directory's
	// files must go first.
	files, err := os.ReadDir(group)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Remove(filepath.Join(group, f.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(group); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Delete (%v)", group, err)
	}
	if err := cg.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestCgroupV2Fake_NoLimits(t *testing.T) {
	const id = "c1"
	mount, group := cgFakeV2(t, "cpu memory pids", id, true)
	controllers, err := v2Controllers(mount)
	if err != nil {
		t.Fatal(err)
	}
	cg, err := newCgroupV2(mount, id, Resources{}, controllers, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })
	// Nothing written, but the controllers are enabled for the accounting.
	for _, f := range []string{"memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max"} {
		if got := cgReadFile(t, filepath.Join(group, f)); got != "untouched" {
			t.Errorf("%s = %q, want it left at the kernel's default", f, got)
		}
	}
	if got := cgReadFile(t, filepath.Join(mount, cgroupParent, "cgroup.subtree_control")); got != "+cpu +memory +pids" {
		t.Errorf("berth's cgroup.subtree_control = %q, want %q", got, "+cpu +memory +pids")
	}
}

func TestCgroupV2Fake_NoSwapAccounting(t *testing.T) {
	const id = "c1"
	mount, group := cgFakeV2(t, "cpu memory pids", id, false)
	controllers, err := v2Controllers(mount)
	if err != nil {
		t.Fatal(err)
	}
	cg, err := newCgroupV2(mount, id, Resources{Memory: 64 * mib}, controllers, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })
	if got := cgReadFile(t, filepath.Join(group, "memory.max")); got != strconv.Itoa(64*mib) {
		t.Errorf("memory.max = %s, want %d", got, 64*mib)
	}
	if _, err := os.Stat(filepath.Join(group, "memory.swap.max")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("memory.swap.max was written on a kernel without it (%v)", err)
	}
}

func TestCgroupV2Fake_MissingController(t *testing.T) {
	mount, _ := cgFakeV2(t, "cpu pids io", "c1", true)
	_, err := v2Controllers(mount)
	var unavailable *CgroupUnavailableError
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "the cgroup v2 memory controller") {
		t.Errorf("v2Controllers without memory = %v, want it reported missing", err)
	}

	// A limit whose controller is not enabled is refused before any write.
	_, err = newCgroupV2(mount, "c2", Resources{PidsLimit: 10}, []string{"cpu", "memory"}, nil)
	if err == nil || !strings.Contains(err.Error(), "pids controller") {
		t.Errorf("newCgroupV2 with a pids limit but no pids controller = %v", err)
	}
	if _, err := os.Stat(filepath.Join(mount, cgroupParent, "c2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused group was made (%v)", err)
	}
}

// cgRequireV2 skips t unless we are root on a host with a unified
// hierarchy: /sys/fs/cgroup itself, or the cgroup2 mount of a hybrid host,
// whose controllers berth does not use (so none are enabled here).
func cgRequireV2(t testing.TB) (mount string, controllers []string) {
	t.Helper()
	testutil.RequireRoot(t)
	if unified, err := isUnified(cgroupRoot); err != nil {
		t.Fatal(err)
	} else if unified {
		controllers, err := v2Controllers(cgroupRoot)
		if err != nil {
			t.Fatal(err)
		}
		return cgroupRoot, controllers
	}
	hybrid := filepath.Join(cgroupRoot, "unified")
	if unified, err := isUnified(hybrid); err != nil || !unified {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no cgroup2 mount at %s or %s, and CI=true forbids skipping", cgroupRoot, hybrid)
		}
		t.Skipf("no cgroup2 mount at %s or %s", cgroupRoot, hybrid)
	}
	return hybrid, nil
}

func TestCgroupV2Unified(t *testing.T) {
	mount, controllers := cgRequireV2(t)
	id := cgTestID(t)
	cg, err := newCgroupV2(mount, id, Resources{}, controllers, defaultDevices())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })
	group := filepath.Join(mount, cgroupParent, id)
	if _, err := os.Stat(filepath.Join(group, "cgroup.procs")); err != nil {
		t.Fatalf("group not made: %v", err)
	}

	sleep := cgStartSleep(t)
	pid := sleep.Process.Pid
	if err := cg.AddProc(pid); err != nil {
		t.Fatal(err)
	}
	if procs, err := cg.Procs(); err != nil || !slices.Equal(procs, []int{pid}) {
		t.Errorf("Procs() = %v, %v; want [%d]", procs, err, pid)
	}
	self := cgReadFile(t, "/proc/"+strconv.Itoa(pid)+"/cgroup")
	if !slices.Contains(strings.Split(self, "\n"), "0::"+groupPath(id)) {
		t.Errorf("/proc/%d/cgroup has no line 0::%s:\n%s", pid, groupPath(id), self)
	}

	if err := cg.Delete(); err == nil {
		t.Fatal("Delete of a group with a live process succeeded")
	}
	cgStopSleep(t, sleep)
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	cgCheckGone(t, group)

	gone, err := loadCgroupV2(mount, id)
	if err != nil {
		t.Fatal(err)
	}
	if procs, err := gone.Procs(); len(procs) != 0 || err != nil {
		t.Errorf("Procs of a missing group = %v, %v; want none", procs, err)
	}
	if err := gone.Delete(); err != nil {
		t.Errorf("Delete of a missing group: %v", err)
	}
}

func TestCgroupV2Unified_Devices(t *testing.T) {
	mount, controllers := cgRequireV2(t)
	cg, err := newCgroupV2(mount, cgTestID(t), Resources{}, controllers, defaultDevices())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })
	checkDevicesEnforced(t, cg)
}

// BenchmarkCgroupV2NewDelete times a group on the unified hierarchy with
// its eBPF device filter. On a hybrid host no controller is enabled, so it
// shows the cost of the group and the filter alone.
func BenchmarkCgroupV2NewDelete(b *testing.B) {
	mount, controllers := cgRequireV2(b)
	id := cgTestID(b)
	for _, devices := range []bool{false, true} {
		b.Run("devices="+strconv.FormatBool(devices), func(b *testing.B) {
			var rules []deviceRule
			if devices {
				rules = defaultDevices()
			}
			for b.Loop() {
				cg, err := newCgroupV2(mount, id, Resources{}, controllers, rules)
				if err != nil {
					b.Fatal(err)
				}
				if err := cg.Delete(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
