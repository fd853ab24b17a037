package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The freezer stops every process of a group where it stands, as
// `docker pause` does: the processes stay in memory and keep their state,
// but get no CPU time and handle no signal until the group is thawed
// (SIGKILL included on v1; on v2 a fatal signal still ends a frozen task).
// See pause.go for which processes of a container are frozen.

// freezeTimeout bounds how long a freeze may take. A freeze waits for every
// task to reach a point where it can stop (one in an uninterruptible
// sleep, on a hung NFS server say, never does); Pause then thaws again
// rather than leave a half-frozen container.
const freezeTimeout = 10 * time.Second

// freezePoll is how often a freeze in progress is looked at again.
const freezePoll = 2 * time.Millisecond

// v1 freezer.state values.
const (
	v1Frozen  = "FROZEN"
	v1Thawed  = "THAWED"
	v1Pending = "FREEZING"
)

// Freeze freezes the container's freezer group, the init included (the
// init sits in it: only memory and pids keep it out), and waits until
// every task in it has stopped.
func (c *cgroupV1) Freeze() error {
	state := filepath.Join(c.host.freezer, c.path, "freezer.state")
	deadline := time.Now().Add(freezeTimeout)
	for {
		// Written again on every round, as runc does: a task forked
		// while the group was FREEZING can keep it from ever reaching
		// FROZEN, and a new write takes in that task too.
		if err := writeCgroupFile(state, v1Frozen); err != nil {
			return fmt.Errorf("freezing cgroup %s: %w", c.path, err)
		}
		got, err := readCgroupWord(state)
		if err != nil {
			return fmt.Errorf("freezing cgroup %s: %w", c.path, err)
		}
		if got == v1Frozen {
			return nil
		}
		if time.Now().After(deadline) {
			_ = c.Thaw()
			return fmt.Errorf("freezing cgroup %s: still %s after %s (a process may be stuck in the kernel, in D state)", c.path, got, freezeTimeout)
		}
		time.Sleep(freezePoll)
	}
}

// Thaw lets the group's tasks run again. A group that is gone has nothing
// to thaw.
func (c *cgroupV1) Thaw() error {
	err := writeCgroupFile(filepath.Join(c.host.freezer, c.path, "freezer.state"), v1Thawed)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("thawing cgroup %s: %w", c.path, err)
	}
	return nil
}

// Freeze freezes the workload's group and the init's leaf beside it (see
// pause.go) and waits until the kernel reports both frozen.
func (c *cgroupV2) Freeze() error {
	for _, dir := range []string{c.dir(), c.initDir()} {
		if err := writeCgroupFile(filepath.Join(dir, "cgroup.freeze"), "1"); err != nil {
			_ = c.Thaw()
			return fmt.Errorf("freezing cgroup %s: %w", dir, err)
		}
	}
	deadline := time.Now().Add(freezeTimeout)
	for _, dir := range []string{c.dir(), c.initDir()} {
		for {
			frozen, err := v2Frozen(dir)
			if err != nil {
				_ = c.Thaw()
				return fmt.Errorf("freezing cgroup %s: %w", dir, err)
			}
			if frozen {
				break
			}
			if time.Now().After(deadline) {
				_ = c.Thaw()
				return fmt.Errorf("freezing cgroup %s: not frozen after %s (a process may be stuck in the kernel, in D state)", dir, freezeTimeout)
			}
			time.Sleep(freezePoll)
		}
	}
	return nil
}

// Thaw lets the init and then the workload run again. Groups that are gone
// have nothing to thaw.
func (c *cgroupV2) Thaw() error {
	var first error
	for _, dir := range []string{c.initDir(), c.dir()} {
		err := writeCgroupFile(filepath.Join(dir, "cgroup.freeze"), "0")
		if err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = fmt.Errorf("thawing cgroup %s: %w", dir, err)
		}
	}
	return first
}

// v2Frozen reads the "frozen" line of dir's cgroup.events: 1 once every
// task of the group has stopped.
func v2Frozen(dir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("frozen ")); ok {
			return string(v) == "1", nil
		}
	}
	return false, fmt.Errorf("%s has no frozen line (the kernel's cgroup v2 freezer needs Linux >= 5.2)", filepath.Join(dir, "cgroup.events"))
}

// readCgroupWord reads a control file holding one word.
func readCgroupWord(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

// cgroupFrozen tells whether container id's group is frozen (or being
// frozen), read straight from the freezer's file without probing the
// hierarchies: it runs on every read of a running container's state.
// FREEZING counts: the container is on its way to paused, and a Pause
// that gives up thaws it again.
func cgroupFrozen(id string) bool {
	if checkCgroupName(id) != nil {
		return false
	}
	unified, err := isUnified(cgroupRoot)
	if err != nil {
		return false
	}
	if unified {
		// cgroup.freeze is what was asked for; a task forked into the
		// group meanwhile is frozen by the kernel as it arrives.
		w, err := readCgroupWord(filepath.Join(cgroupRoot, groupPath(id), "cgroup.freeze"))
		return err == nil && w == "1"
	}
	// "freezer" names the hierarchy even when it is co-mounted with
	// another controller (the other names are symlinks to it).
	w, err := readCgroupWord(filepath.Join(cgroupRoot, "freezer", groupPath(id), "freezer.state"))
	return err == nil && (w == v1Frozen || w == v1Pending)
}
