package runtime

import (
	"context"
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

// Kill sends sig to the container. SIGKILL goes straight to the workload
// (the init cannot catch it, and must live to record the exit status);
// every other signal goes to the init, which forwards it.
func (m *Manager) Kill(c *Container, sig unix.Signal) error {
	if !c.State.Running {
		return fmt.Errorf("container %s: %w", c.Name(), ErrNotRunning)
	}
	// A paused container is signalled, then thawed, as Docker does: the
	// signal waits, pending, for the processes to run again (pause.go).
	defer m.thawIfPaused(c)
	if sig != unix.SIGKILL {
		if err := unix.Kill(c.State.Pid, sig); err != nil {
			return fmt.Errorf("signalling container %s: %w", c.Name(), err)
		}
		return nil
	}
	for _, pid := range children(c.State.Pid) {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	return nil
}

// children lists the direct children of pid (the workload, and orphans the
// init adopted).
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// Stop sends the container's stop signal, waits up to timeout (the
// container's own when negative) and then kills it.
func (m *Manager) Stop(ctx context.Context, c *Container, timeout time.Duration) error {
	if !c.State.Running {
		return nil
	}
	if timeout < 0 {
		timeout = c.Config.StopTimeout
		if timeout == 0 {
			timeout = DefaultStopTimeout
		}
	}
	sig, err := ParseSignal(c.Config.StopSignal)
	if err != nil {
		sig = unix.SIGTERM
	}
	// Noted before the signal, so whoever sees the exit knows it was
	// asked for.
	if err := m.MarkStopping(c); err != nil {
		return err
	}
	if err := m.Kill(c, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	if m.waitGone(ctx, c, timeout) {
		return nil
	}
	_ = m.Kill(c, unix.SIGKILL)
	if m.waitGone(ctx, c, 5*time.Second) {
		return nil
	}
	// The init itself is stuck: end it, and with it the namespace.
	_ = unix.Kill(c.State.Pid, unix.SIGKILL)
	m.waitGone(ctx, c, 5*time.Second)
	return nil
}

// waitInitExit waits (5 s at most) for a container's init that recorded
// its exit to be gone: it writes exit.json just before it exits, and
// until it has, it is still in the container's cgroup, which cannot be
// removed before (a Go init built with the race detector, or any on a
// loaded machine, can take a while from the one to the other).
func waitInitExit(ctx context.Context, dir string) {
	var s started
	if readJSON(filepath.Join(dir, stateFile), &s) != nil || !alive(s.Pid, s.PidStart) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = waitPid(ctx, s.Pid)
}

// waitGone waits up to d for the container's init to exit.
func (m *Manager) waitGone(ctx context.Context, c *Container, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_, err := m.Wait(ctx, c)
	return err == nil
}

// Wait blocks until the container has exited and returns how it ended.
func (m *Manager) Wait(ctx context.Context, c *Container) (ExitStatus, error) {
	if c.State.Running {
		if err := waitPid(ctx, c.State.Pid); err != nil {
			return ExitStatus{}, err
		}
	}
	fresh, err := m.load(c.ID)
	if err != nil {
		return ExitStatus{}, err
	}
	// The init's exit.json lands just before it exits; a reader that saw
	// the pid go can still race a slow rename by a hair.
	for i := 0; fresh.State.Status == StatusRunning && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		fresh.State = readState(fresh.Dir)
	}
	c.State = fresh.State
	if c.State.Status == StatusCreated {
		return ExitStatus{}, fmt.Errorf("container %s: %w", c.Name(), ErrNotRunning)
	}
	return ExitStatus{ExitCode: c.State.ExitCode, OOMKilled: c.State.OOMKilled, FinishedAt: c.State.FinishedAt}, nil
}

// waitPid waits for any process (not only our children) to exit, through
// a pidfd, which cannot be fooled by pid reuse.
func waitPid(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("watching pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Poll in slices of at most 100 ms so a cancel is noticed. Never
		// a negative timeout: poll would wait forever, and the deadline
		// can pass before ctx's own timer has marked it.
		ms := 100
		if dl, ok := ctx.Deadline(); ok {
			left := time.Until(dl)
			if left <= 0 {
				return context.DeadlineExceeded
			}
			if left < 100*time.Millisecond {
				ms = int(left/time.Millisecond) + 1
			}
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, ms)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("watching pid %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// Remove deletes a container and everything it left: cgroup, name, state
// directory. A running container needs force, which kills it first.
func (m *Manager) Remove(ctx context.Context, c *Container, force bool) error {
	if c.State.Running {
		if !force {
			return fmt.Errorf("removing container %s: %w", c.Name(), ErrRunning)
		}
		_ = m.Kill(c, unix.SIGKILL)
		if !m.waitGone(ctx, c, 5*time.Second) {
			_ = unix.Kill(c.State.Pid, unix.SIGKILL)
			if !m.waitGone(ctx, c, 5*time.Second) {
				return fmt.Errorf("removing container %s: its init (pid %d) does not exit", c.Name(), c.State.Pid)
			}
		}
	}
	waitInitExit(ctx, c.Dir)
	cg, err := loadCgroup(c.ID)
	if err != nil {
		return fmt.Errorf("removing container %s: %w", c.Name(), err)
	}
	if err := cg.Delete(); err != nil {
		return fmt.Errorf("removing container %s: %w", c.Name(), err)
	}
	// config.json first: from then on the directory is debris that List
	// skips, should we crash before the rest is gone.
	if err := os.Remove(filepath.Join(c.Dir, "config.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing container %s: %w", c.Name(), err)
	}
	m.releaseName(c.Name(), c.ID)
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("removing container %s: %w", c.Name(), err)
	}
	return nil
}
