package runtime

import "fmt"

// Pause and unpause, as docker pause and docker unpause: the container's
// processes are frozen through the cgroup freezer (cgroup_freezer.go).
//
// The whole container is frozen, berth's init included, as Docker freezes
// its container's init (tini, or runc's): a paused container takes no CPU
// at all, and its init has nothing to do meanwhile (a frozen workload
// writes no output and exits no child). On v1 the init shares the
// container's freezer group (only the memory and pids groups keep it out);
// on v2 its own leaf, /berth/<id>.init, is frozen with the container's
// group. What needs the init answers accordingly, as Docker's does:
//   - exec is refused (ErrPaused): the init could not fork it;
//   - health checks are skipped: a paused container's health stays as it
//     was, instead of counting failures that are berth's doing;
//   - Kill signals the container and then thaws it, so the signal is
//     handled as soon as the processes run again (docker kill of a paused
//     container does the same); Stop and Remove go through Kill;
//   - logs already written can be read; none are added while paused.

// pausedError is an operation refused because the container is paused.
type pausedError struct{ name, op string }

func (e *pausedError) Error() string {
	return e.op + " container " + e.name + ": it is paused"
}

func (e *pausedError) Unwrap() error { return ErrPaused }

// Pause freezes every process of c (see above) and returns once all of
// them have stopped. c.State is updated.
func (m *Manager) Pause(c *Container) error {
	if !c.State.Running {
		return fmt.Errorf("pausing container %s: %w", c.Name(), ErrNotRunning)
	}
	if c.State.Paused {
		return fmt.Errorf("pausing container %s: %w", c.Name(), ErrPaused)
	}
	cg, err := loadCgroup(c.ID)
	if err != nil {
		return fmt.Errorf("pausing container %s: %w", c.Name(), err)
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("pausing container %s: %w", c.Name(), err)
	}
	// The container may have ended just before the freeze: then its
	// empty group froze, and there is nothing paused to report.
	c.State = readState(c.Dir)
	if !c.State.Running {
		_ = cg.Thaw()
		return fmt.Errorf("pausing container %s: %w", c.Name(), ErrNotRunning)
	}
	return nil
}

// Unpause lets the processes of a paused c run again. c.State is updated.
func (m *Manager) Unpause(c *Container) error {
	if !c.State.Paused {
		return fmt.Errorf("unpausing container %s: %w", c.Name(), ErrNotPaused)
	}
	if err := m.thaw(c); err != nil {
		return fmt.Errorf("unpausing container %s: %w", c.Name(), err)
	}
	c.State = readState(c.Dir)
	return nil
}

// thaw thaws c's group whether or not c is paused.
func (m *Manager) thaw(c *Container) error {
	cg, err := loadCgroup(c.ID)
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// refuseIfPaused is the error of op on a paused c, or nil.
func refuseIfPaused(c *Container, op string) error {
	if c.State.Paused || (c.State.Running && cgroupFrozen(c.ID)) {
		return &pausedError{name: c.Name(), op: op}
	}
	return nil
}

// thawIfPaused thaws c if it is paused, or was when c was read; the
// state it reads afterwards is the caller's to refresh.
func (m *Manager) thawIfPaused(c *Container) {
	if c.State.Paused || cgroupFrozen(c.ID) {
		_ = m.thaw(c)
	}
}
