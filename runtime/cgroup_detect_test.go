package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

// cgTestID is a container id for t that no other test or process uses.
func cgTestID(t testing.TB) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	return fmt.Sprintf("test-%d-%s", os.Getpid(), name)
}

// cgStartSleep starts a process that sleeps until the test ends.
func cgStartSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cgStopSleep(t, cmd) })
	return cmd
}

// cgStopSleep kills cmd and reaps it, so that its group can be deleted. Once
// reaped, os.Process signals nothing: its pid may belong to someone else.
func cgStopSleep(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func cgReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// cgCheckGone fails t unless dir is gone, and its parent "berth" with it
// unless another group still lives there.
func cgCheckGone(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Delete (%v)", dir, err)
	}
	parent := filepath.Dir(dir)
	entries, err := os.ReadDir(parent)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, os.DirEntry.IsDir) {
		t.Errorf("%s is left behind with no group in it", parent)
	}
}

func TestCgroupDetect(t *testing.T) {
	tmp := t.TempDir()
	unified, err := isUnified(tmp)
	if err != nil || unified {
		t.Errorf("isUnified(%s) = %v, %v; want false: a plain directory is no cgroup2 mount", tmp, unified, err)
	}

	missing := filepath.Join(tmp, "missing")
	_, err = isUnified(missing)
	var unavailable *CgroupUnavailableError
	if !errors.As(err, &unavailable) || unavailable.Path != missing {
		t.Errorf("isUnified(%s) = %v, want a CgroupUnavailableError for it", missing, err)
	}

	var st unix.Statfs_t
	for _, dir := range []string{cgroupRoot, filepath.Join(cgroupRoot, "unified")} {
		if unix.Statfs(dir, &st) != nil {
			continue
		}
		want := st.Type == unix.CGROUP2_SUPER_MAGIC
		if got, err := isUnified(dir); got != want || err != nil {
			t.Errorf("isUnified(%s) = %v, %v; want %v", dir, got, err, want)
		}
	}
}

func TestCgroupName(t *testing.T) {
	for _, id := range []string{"", ".", "..", "a/b", "../etc", "a\x00b"} {
		if err := checkCgroupName(id); err == nil {
			t.Errorf("checkCgroupName(%q) accepted it", id)
		}
	}
	for _, id := range []string{"3f2a9c", "web-1", "a.b"} {
		if err := checkCgroupName(id); err != nil {
			t.Errorf("checkCgroupName(%q): %v", id, err)
		}
	}
}

func TestCgroupRemoveParents(t *testing.T) {
	busy, empty, none := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(busy, cgroupParent, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(empty, cgroupParent), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeCgroupParents([]string{busy, empty, none}); err != nil {
		t.Fatalf("removeCgroupParents: %v", err)
	}
	if _, err := os.Stat(filepath.Join(busy, cgroupParent, "other")); err != nil {
		t.Errorf("a parent in use was touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, cgroupParent)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an empty parent was left: %v", err)
	}
}

// TestCgroupNewLoad goes through newCgroup and loadCgroup, on whatever
// layout this host has.
func TestCgroupNewLoad(t *testing.T) {
	testutil.RequireRoot(t)
	id := cgTestID(t)
	cg, err := newCgroup(id, Resources{Memory: 64 << 20, PidsLimit: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Delete() })
	sleep := cgStartSleep(t)
	pid := sleep.Process.Pid
	if err := cg.AddProc(pid); err != nil {
		t.Fatal(err)
	}

	loaded, err := loadCgroup(id)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loaded.OOMEventsPath(), cg.OOMEventsPath(); got != want {
		t.Errorf("loaded OOMEventsPath = %s, want %s", got, want)
	}
	if _, err := os.Stat(loaded.OOMEventsPath()); err != nil {
		t.Errorf("OOM events file: %v", err)
	}
	procs, err := loaded.Procs()
	if err != nil || !slices.Equal(procs, []int{pid}) {
		t.Errorf("loaded Procs() = %v, %v; want [%d]", procs, err, pid)
	}
	if err := loaded.Delete(); err == nil {
		t.Error("Delete of a group with a live process succeeded")
	}

	cgStopSleep(t, sleep)
	if err := loaded.Delete(); err != nil {
		t.Fatal(err)
	}
	cgCheckGone(t, filepath.Dir(loaded.OOMEventsPath()))
	if err := cg.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}

	gone, err := loadCgroup(id)
	if err != nil {
		t.Fatalf("loading a missing group: %v", err)
	}
	if procs, err := gone.Procs(); len(procs) != 0 || err != nil {
		t.Errorf("Procs of a missing group = %v, %v; want none", procs, err)
	}
	if err := gone.Delete(); err != nil {
		t.Errorf("Delete of a missing group: %v", err)
	}
}

func TestCgroupNew_BadResources(t *testing.T) {
	testutil.RequireRoot(t)
	id := cgTestID(t)
	for _, r := range []Resources{
		{Memory: 64 << 20, MemorySwap: 32 << 20},
		{NanoCPUs: 1000},
		{MemorySwap: 64 << 20},
	} {
		cg, err := newCgroup(id, r)
		if err == nil {
			_ = cg.Delete()
			t.Errorf("newCgroup with %+v: no error", r)
			continue
		}
		if !strings.Contains(err.Error(), "/berth/"+id) {
			t.Errorf("error %q does not name the group", err)
		}
	}
	gone, err := loadCgroup(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(gone.OOMEventsPath())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected group was created: %v", err)
	}
}

// BenchmarkCgroupNewDelete times what a container start and removal spend on
// its group: newCgroup with every kind of limit, AddProc, and Delete.
func BenchmarkCgroupNewDelete(b *testing.B) {
	testutil.RequireRoot(b)
	id := cgTestID(b)
	r := Resources{Memory: 64 << 20, NanoCPUs: 1.5e9, CPUShares: 512, PidsLimit: 100}
	b.Run("new+delete", func(b *testing.B) {
		for b.Loop() {
			cg, err := newCgroup(id, r)
			if err != nil {
				b.Fatal(err)
			}
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new+addproc+delete", func(b *testing.B) {
		sleep := exec.Command("sleep", "1000")
		if err := sleep.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = sleep.Process.Kill()
			_ = sleep.Wait()
		})
		pid := sleep.Process.Pid
		home := cgHome(b, pid)
		for b.Loop() {
			cg, err := newCgroup(id, r)
			if err != nil {
				b.Fatal(err)
			}
			if err := cg.AddProc(pid); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cgMoveHome(b, pid, home) // as if it had exited
			b.StartTimer()
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new+delete beside another group", func(b *testing.B) {
		other, err := newCgroup(id+"-other", Resources{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = other.Delete() })
		for b.Loop() {
			cg, err := newCgroup(id, r)
			if err != nil {
				b.Fatal(err)
			}
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			cg, err := newCgroup(id, r)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("load+delete", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if _, err := newCgroup(id, r); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cg, err := loadCgroup(id)
			if err != nil {
				b.Fatal(err)
			}
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// cgHome returns the cgroup.procs files of the groups pid is in now, one per
// mounted hierarchy, so that cgMoveHome can put it back.
func cgHome(t testing.TB, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var procs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		mount := filepath.Join(cgroupRoot, strings.TrimPrefix(f[1], "name="))
		if f[1] == "" {
			mount = cgroupRoot
			if unified, _ := isUnified(cgroupRoot); !unified {
				mount = filepath.Join(cgroupRoot, "unified")
			}
		}
		if p := filepath.Join(mount, f[2], "cgroup.procs"); cgFileExists(p) {
			procs = append(procs, p)
		}
	}
	return procs
}

// cgMoveHome moves pid back into the groups cgHome found.
func cgMoveHome(t testing.TB, pid int, home []string) {
	t.Helper()
	for _, p := range home {
		if err := os.WriteFile(p, []byte(strconv.Itoa(pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
}
