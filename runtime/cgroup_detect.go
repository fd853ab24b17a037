package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRoot is where the host mounts its cgroup filesystems: the unified
// hierarchy itself (v2), or a tmpfs holding one mount per v1 hierarchy.
// Tests point it at a hybrid host's cgroup2 mount to run containers on v2.
var cgroupRoot = "/sys/fs/cgroup"

// cgroupParent is the directory, at the root of every hierarchy we use, that
// holds one group per container: <hierarchy>/berth/<id>.
const cgroupParent = "berth"

// createAttempts bounds how often creating a group is retried after ENOENT.
// Deleting the last container removes the empty "berth" parent, so a create
// running at the same time (in another berth process) can find the parent
// gone between making it and making the group inside it.
const createAttempts = 3

// newCgroup creates the control group for container id and applies r.
func newCgroup(id string, r Resources) (cgroup, error) {
	if err := checkCgroupName(id); err != nil {
		return nil, err
	}
	unified, err := isUnified(cgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", groupPath(id), err)
	}
	if unified {
		controllers, err := v2Controllers(cgroupRoot)
		if err != nil {
			return nil, fmt.Errorf("creating cgroup %s: %w", groupPath(id), err)
		}
		return asCgroup(newCgroupV2(cgroupRoot, id, r, controllers, defaultDevices()))
	}
	return asCgroup(newCgroupV1(cgroupRoot, id, r))
}

// loadCgroup returns the existing group of container id (for kill, rm and
// OOM checks). A missing group is not an error: Delete on it succeeds.
func loadCgroup(id string) (cgroup, error) {
	if err := checkCgroupName(id); err != nil {
		return nil, err
	}
	unified, err := isUnified(cgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", groupPath(id), err)
	}
	if unified {
		return asCgroup(loadCgroupV2(cgroupRoot, id))
	}
	return asCgroup(loadCgroupV1(cgroupRoot, id))
}

// asCgroup keeps a failed constructor's nil pointer from becoming a non-nil
// cgroup.
func asCgroup[C cgroup](c C, err error) (cgroup, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}

// groupPath is the group of container id relative to a hierarchy's root.
func groupPath(id string) string {
	return "/" + cgroupParent + "/" + id
}

// checkCgroupName rejects ids that would name a directory other than
// <hierarchy>/berth/<id>.
func checkCgroupName(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("container id %q cannot name a cgroup", id)
	}
	return nil
}

// isUnified tells whether root is the unified (v2) hierarchy. Anything else
// is treated as a v1 layout, hybrid included: berth then uses only the v1
// hierarchies, whatever controllers the cgroup2 mount at root/unified holds.
func isUnified(root string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, noCgroupFS(root)
		}
		return false, fmt.Errorf("reading file system type of %s: %w", root, err)
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		return true, nil
	case unix.SYSFS_MAGIC:
		// An empty directory of /sys itself: nothing is mounted there.
		return false, noCgroupFS(root)
	}
	return false, nil
}

func noCgroupFS(root string) error {
	return &CgroupUnavailableError{
		Missing: "a cgroup file system",
		Path:    root,
		Fix:     "mount the unified hierarchy: mount -t cgroup2 cgroup2 " + root,
	}
}

// Error reads: the memory controller is not available at
// /sys/fs/cgroup/memory; mount it: ...

// removeCgroupDir removes the group directory dir; a group that is gone is
// no error. The kernel refuses while a process or a child group is in it
// (EBUSY), which is retried with a doubling wait, half a second in all,
// in case a process is still on its way out: the init records its exit
// before it exits, and a loaded machine (or the race detector) can take
// tens of milliseconds from that record to the process leaving its group.
//
// There is no walk of the group looking for processes first, as
// containerd/cgroups did, with a retry of 150 ms on failure: that took
// 1.4 ms for one v1 group on the machine this was measured on, against
// 90 µs for the seven rmdirs here, and the kernel's EBUSY tells the same.
func removeCgroupDir(dir string) error {
	delay := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && attempt < 10:
			time.Sleep(delay)
			delay *= 2
			continue
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("removing %s: processes or child groups are still in it: %w", dir, err)
		}
		return fmt.Errorf("removing %s: %w", dir, err)
	}
}

// removeCgroupParents removes the "berth" directory at each of roots once its last
// group is gone, so nothing of berth is left behind when no container exists.
// A parent still in use (EBUSY, ENOTEMPTY) or already gone is no error.
func removeCgroupParents(roots []string) error {
	var errs []error
	for _, root := range roots {
		dir := filepath.Join(root, cgroupParent)
		err := unix.Rmdir(dir)
		switch {
		case err == nil,
			errors.Is(err, unix.ENOENT),
			errors.Is(err, unix.EBUSY),
			errors.Is(err, unix.ENOTEMPTY),
			errors.Is(err, unix.EEXIST):
			continue
		}
		errs = append(errs, fmt.Errorf("removing %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// retryCgroupCreate runs create until it succeeds, fails with anything but a
// missing file, or has tried createAttempts times; see createAttempts.
func retryCgroupCreate(create func() error) error {
	var err error
	for range createAttempts {
		err = create()
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// cgroupFileExists tells whether path exists; an error other than "missing" counts as
// existing, so that the operation that needs path reports it.
func cgroupFileExists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
