package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/runtime/containerinit"
)

// Stdio is the user's terminal or pipes, for a container started attached.
// Nil files are not connected; a nil *Stdio starts it detached.
type Stdio struct {
	In, Out, Err *os.File
}

// Process is a started container's init, for a caller that stays attached.
type Process struct {
	cmd *exec.Cmd
	c   *Container
}

// Pid is the init's pid on the host.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the init, which passes it on to the workload.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the container to end and returns its exit status.
func (p *Process) Wait() ExitStatus {
	_ = p.cmd.Wait()
	return exitStatusAfterInit(p.c.Dir, p.cmd.ProcessState)
}

// Release lets the container run on after the caller exits.
func (p *Process) Release() error { return p.cmd.Process.Release() }

// Start runs a created container. With stdio it is attached: the init
// copies the workload's output there as well as to the log.
func (m *Manager) Start(c *Container, stdio *Stdio) (*Process, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if c.State.Status != StatusCreated {
		return nil, fmt.Errorf("container %s was already started: %w", c.Name(), ErrRunning)
	}
	pre, err := spawnInit(c.Config.NetNS)
	if err != nil {
		return nil, &StartError{c.Name(), ExitSetupFailed, err}
	}
	return m.start(c, stdio, pre)
}

// Run creates a container and starts it, as `berth run` does. The init is
// started first, so that its own start-up (a Go runtime's, a few ms) runs
// on the other core while the container's directory and cgroup are made.
// A container that was created but failed to start is returned with the
// error, so the caller can remove it.
func (m *Manager) Run(cfg Config, stdio *Stdio) (*Container, *Process, error) {
	if os.Geteuid() != 0 {
		return nil, nil, ErrNotRoot
	}
	if err := validateNetNS(cfg.NetNS); err != nil {
		return nil, nil, err
	}
	pre, err := spawnInit(cfg.NetNS)
	if err != nil {
		return nil, nil, fmt.Errorf("starting a container: %w", err)
	}
	c, err := m.Create(cfg)
	if err != nil {
		pre.abort()
		return nil, nil, err
	}
	p, err := m.start(c, stdio, pre)
	return c, p, err
}

// start finishes a start with an init already spawned: the cgroup, the
// files the init needs, and the handshake.
func (m *Manager) start(c *Container, stdio *Stdio, pre *pendingInit) (*Process, error) {
	cg, err := newCgroup(c.ID, c.Config.Resources)
	if err != nil {
		pre.abort()
		return nil, &StartError{c.Name(), ExitSetupFailed, err}
	}
	p, err := m.handshake(c, cg, stdio, pre)
	if err != nil {
		pre.abort()
		_ = cg.Delete()
		var se *StartError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, &StartError{c.Name(), ExitSetupFailed, err}
	}
	return p, nil
}

// handshake gives the waiting init its container (see protocol.go).
func (m *Manager) handshake(c *Container, cg cgroup, stdio *Stdio, pre *pendingInit) (*Process, error) {
	fds, err := m.initFiles(c, cg, stdio)
	defer closeAll(fds.files)
	if err != nil {
		return nil, err
	}
	if err := cg.AddInit(pre.cmd.Process.Pid); err != nil {
		return nil, fmt.Errorf("moving init into its cgroup: %w", err)
	}
	b := containerinit.Bootstrap{
		ID: c.ID, StateDir: c.Dir, Spec: c.Config.initSpec(), Attached: stdio != nil,
		HasOOM: fds.hasOOM, Join: fds.join, Leave: fds.leave, Ephemeral: c.Config.AutoRemove,
		Shim: pre.shim, Fds: fds.targets,
	}
	// The init's start time tells it apart from a later process with
	// its pid. Read it now, while the init surely lives, waiting for its
	// bootstrap: a short workload may end, and the init with it, before
	// state.json is written.
	pidStart, err := procStartTime(pre.cmd.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("reading start time of init %d: %w", pre.cmd.Process.Pid, err)
	}
	if err := pre.send(&b, fds.files); err != nil {
		return nil, fmt.Errorf("sending config to init: %w", err)
	}
	// state.json is written while the init sets the container up, on the
	// other core: it is off the start's critical path, and taken back if
	// the start fails.
	stateWritten := make(chan error, 1)
	go func() { stateWritten <- m.writeStarted(c, pre.cmd.Process.Pid, pidStart) }()
	r, err := pre.receive()
	if err != nil {
		pre.abort()
		m.unstart(c, stateWritten)
		return nil, fmt.Errorf("berth's init died during set-up (%v)%s", pre.cmd.ProcessState, initLogTail(c.Dir))
	}
	if r.Error != "" {
		_ = pre.cmd.Wait()
		m.unstart(c, stateWritten)
		return nil, &StartError{c.Name(), r.Code, errors.New(r.Error)}
	}
	if err := <-stateWritten; err != nil {
		return nil, err
	}
	pre.sock.Close()
	return &Process{cmd: pre.cmd, c: c}, nil
}

// writeStarted records that the container's init runs as pid, started
// at start (clock ticks since boot).
func (m *Manager) writeStarted(c *Container, pid int, start uint64) error {
	st := started{Pid: pid, PidStart: start, StartedAt: time.Now().UTC()}
	return writeJSONAtomic(filepath.Join(c.Dir, stateFile), st, !c.Config.AutoRemove)
}

// unstart takes back state.json of a container that failed to start, so
// it reads as created, not as exited.
func (m *Manager) unstart(c *Container, written <-chan error) {
	<-written
	_ = os.Remove(filepath.Join(c.Dir, stateFile))
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// exitStatusAfterInit reads what the init recorded; when it died without
// recording anything, its own wait status is all there is.
func exitStatusAfterInit(dir string, ps *os.ProcessState) ExitStatus {
	var ex ExitStatus
	if err := readJSON(filepath.Join(dir, exitFile), &ex); err == nil {
		return ex
	}
	ex.FinishedAt = time.Now().UTC()
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ex.Signal = int(ws.Signal())
			ex.ExitCode = 128 + ex.Signal
			return ex
		}
		ex.ExitCode = ps.ExitCode()
	}
	return ex
}

// initLogFile is the init's stderr, in the container's directory.
const initLogFile = "init.log"

// initLogTail is the end of what the init printed before it died, as a
// suffix for an error message.
func initLogTail(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, initLogFile))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return ":\n" + strings.TrimSpace(string(b))
}
