package containerinit

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// joinedControllers are the v1 controllers whose groups a container gets
// (see runtime's cgroup_v1.go); only those are shown inside it.
var joinedControllers = []string{"cpu", "cpuacct", "memory", "pids", "devices", "freezer", "blkio"}

// cgroupMounts are the host's, read by prepareRootfs before pivot_root.
var cgroupMounts []cgroupMount

// cgroupMount is one cgroup file system the host has under /sys/fs/cgroup.
type cgroupMount struct {
	dir         string // below /sys/fs/cgroup; "" for the unified hierarchy at its top
	fstype      string // "cgroup" or "cgroup2"
	controllers string // v1: the hierarchy's controllers, "cpu,cpuacct"
}

// hostCgroupMounts lists the cgroup file systems worth showing in a
// container: the unified hierarchy when it is the host's only one, else
// the v1 hierarchies of joinedControllers. Read before pivot_root, from the
// copy of the host's mount table the container's namespace began with.
func hostCgroupMounts() []cgroupMount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		mnt := fields[4]
		switch {
		case tail[0] == "cgroup2" && mnt == "/sys/fs/cgroup":
			return []cgroupMount{{fstype: "cgroup2"}}
		case tail[0] == "cgroup" && filepath.Dir(mnt) == "/sys/fs/cgroup":
			var ctrls []string
			for _, o := range strings.Split(tail[2], ",") {
				if slices.Contains(joinedControllers, o) {
					ctrls = append(ctrls, o)
				} else if o != "rw" && o != "ro" {
					ctrls = nil // a controller (or name=) we do not join
					break
				}
			}
			if len(ctrls) > 0 {
				out = append(out, cgroupMount{dir: filepath.Base(mnt), fstype: "cgroup", controllers: strings.Join(ctrls, ",")})
			}
		}
	}
	return out
}

// mountCgroupfs shows the container its own cgroups, read-only, at
// /sys/fs/cgroup, as Docker does: runtimes such as Go's and the JVM's read
// their CPU and memory limits there.
//
// Preconditions: after pivot_root, on the thread that entered the cgroup
// namespace (the mounts show the hierarchy from that namespace's root).
func mountCgroupfs(mounts []cgroupMount) error {
	const ro = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if len(mounts) == 0 {
		return nil
	}
	if mounts[0].fstype == "cgroup2" {
		if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", ro, ""); err != nil {
			return fmt.Errorf("mounting /sys/fs/cgroup: %w", err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", "/sys/fs/cgroup", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return fmt.Errorf("mounting /sys/fs/cgroup: %w", err)
	}
	for _, m := range mounts {
		dir := filepath.Join("/sys/fs/cgroup", m.dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := unix.Mount("cgroup", dir, "cgroup", ro, m.controllers); err != nil {
			return fmt.Errorf("mounting %s: %w", dir, err)
		}
	}
	if err := unix.Mount("", "/sys/fs/cgroup", "", unix.MS_REMOUNT|ro, "mode=755"); err != nil {
		return fmt.Errorf("making /sys/fs/cgroup read-only: %w", err)
	}
	return nil
}
