package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The cgroup file system is driven with plain system calls: a group is a
// directory, a setting is one write to one of its files. os.File would add
// the poller's registration (two fcntl and an epoll_ctl, and another
// epoll_ctl on close) to files that are opened, written once and closed.

// cgroupSetting is one value written to one control file of a group.
type cgroupSetting struct {
	file  string // "memory.max"
	value string // "67108864"
	// ifOffered skips the setting where the kernel lacks the file, as v2
	// lacks memory.swap.max without swap accounting.
	ifOffered bool
}

// intSetting is the setting of file to value.
func intSetting(file string, value int64) cgroupSetting {
	return cgroupSetting{file: file, value: strconv.FormatInt(value, 10)}
}

// writeCgroupSettings writes settings, in order, to the group at dir.
func writeCgroupSettings(dir string, settings []cgroupSetting) error {
	for _, s := range settings {
		err := writeCgroupFile(filepath.Join(dir, s.file), s.value)
		if s.ifOffered && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeCgroupFile writes value to the control file path.
func writeCgroupFile(path, value string) error {
	fd, err := openCgroupFile(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := writeCgroupValue(fd, value); err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, path, err)
	}
	return nil
}

// openCgroupFile opens the control file path for writing.
func openCgroupFile(path string) (int, error) {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// writeCgroupValue writes value to the control file open at fd in one
// write, which is how the kernel takes it: a second write is a second value.
func writeCgroupValue(fd int, value string) error {
	return ignoringEINTR(func() error {
		_, err := unix.Write(fd, []byte(value))
		return err
	})
}

func ignoringEINTR(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// makeCgroupDir creates the group directory dir, and its parent (the
// "berth" directory) if that is missing. A group that exists is reused.
func makeCgroupDir(dir string) error {
	err := unix.Mkdir(dir, 0o755)
	if errors.Is(err, unix.ENOENT) {
		parent := filepath.Dir(dir)
		if err := unix.Mkdir(parent, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return &fs.PathError{Op: "mkdir", Path: parent, Err: err}
		}
		// A Delete in another berth process can remove the parent again
		// right here: see createAttempts.
		err = unix.Mkdir(dir, 0o755)
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &fs.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return nil
}

// addCgroupProc moves pid into the group at dir. A process still being
// forked (TASK_NEW) is refused with EINVAL for a moment, which is retried.
func addCgroupProc(dir string, pid int) error {
	path := filepath.Join(dir, "cgroup.procs")
	for attempt := 1; ; attempt++ {
		err := writeCgroupFile(path, strconv.Itoa(pid))
		if err == nil || !errors.Is(err, unix.EINVAL) || attempt == 5 {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// readCgroupProcs lists the processes in the group at dir and in the groups
// below it. Groups that are gone, or go while they are read, have none.
func readCgroupProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %q is no pid", filepath.Join(dir, "cgroup.procs"), f)
		}
		pids = append(pids, pid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		more, err := readCgroupProcs(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		pids = append(pids, more...)
	}
	return pids, nil
}
