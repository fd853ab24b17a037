package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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

// initFlags are the namespaces a container's init is born into. The cgroup
// namespace comes later, from the init itself (see spawnWorkload).
const initFlags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWNET

// Start runs a created container. With stdio it is attached: the init
// copies the workload's output there as well as to the log.
func (m *Manager) Start(c *Container, stdio *Stdio) (*Process, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if c.State.Status != StatusCreated {
		return nil, fmt.Errorf("container %s was already started: %w", c.Name(), ErrRunning)
	}
	cg, err := newCgroup(c.ID, c.Config.Resources)
	if err != nil {
		return nil, &StartError{c.Name(), ExitSetupFailed, err}
	}
	p, err := m.spawn(c, cg, stdio)
	if err != nil {
		_ = cg.Delete()
		var se *StartError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, &StartError{c.Name(), ExitSetupFailed, err}
	}
	return p, nil
}

func (m *Manager) spawn(c *Container, cg cgroup, stdio *Stdio) (*Process, error) {
	exe, err := sealedExe()
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	// The child's fds 3-9 are overwritten before exec (ExtraFiles), so the
	// path we exec must name an fd above them.
	exeFd, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, 64)
	if err != nil {
		return nil, fmt.Errorf("duplicating sealed binary fd: %w", err)
	}
	defer unix.Close(exeFd)
	parentSock, childSock, err := socketPair()
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()
	fds, err := m.initFiles(c, cg, childSock, stdio)
	files := fds.files
	defer closeAll(files)
	if err != nil {
		return nil, err
	}
	// The init's own stderr: where a crash of the init itself (a Go panic)
	// lands, for the error message and for whoever debugs it later.
	initLog, err := os.OpenFile(filepath.Join(c.Dir, initLogFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening init log: %w", err)
	}
	defer initLog.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/" + strconv.Itoa(exeFd),
		Stderr:     initLog,
		Args:       []string{"berth-init", containerinit.Arg},
		Env:        []string{"GOMAXPROCS=1", "GOGC=50"},
		ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: initFlags,
			// Its own session: the user's ^C reaches the CLI, which
			// forwards it once, instead of hitting both.
			Setsid: true,
		},
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSPC) {
			return nil, fmt.Errorf("creating the container's namespaces (mount, pid, uts, ipc, net): %w: %w", ErrNamespaces, err)
		}
		return nil, fmt.Errorf("starting the container's init: %w", err)
	}
	closeAll(files)
	files = nil
	fail := func(err error) (*Process, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	if err := cg.AddInit(cmd.Process.Pid); err != nil {
		return fail(fmt.Errorf("moving init into its cgroup: %w", err))
	}
	b := containerinit.Bootstrap{ID: c.ID, StateDir: c.Dir, Spec: c.Config.initSpec(), Attached: stdio != nil, HasOOM: fds.hasOOM, Join: fds.join, Leave: fds.leave, Ephemeral: c.Config.AutoRemove}
	if err := json.NewEncoder(parentSock).Encode(&b); err != nil {
		return fail(fmt.Errorf("sending config to init: %w", err))
	}
	// state.json is written while the init sets the container up, on the
	// other core: it is off the start's critical path, and taken back if
	// the start fails.
	stateWritten := make(chan error, 1)
	go func() { stateWritten <- m.writeStarted(c, cmd.Process.Pid) }()
	var r containerinit.Reply
	if err := json.NewDecoder(parentSock).Decode(&r); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		m.unstart(c, stateWritten)
		return nil, fmt.Errorf("berth's init died during set-up (%v)%s", cmd.ProcessState, initLogTail(c.Dir))
	}
	if r.Error != "" {
		_ = cmd.Wait()
		m.unstart(c, stateWritten)
		return nil, &StartError{c.Name(), r.Code, errors.New(r.Error)}
	}
	if err := <-stateWritten; err != nil {
		return fail(err)
	}
	return &Process{cmd: cmd, c: c}, nil
}

// writeStarted records that the container's init runs as pid.
func (m *Manager) writeStarted(c *Container, pid int) error {
	start, err := procStartTime(pid)
	if err != nil {
		return fmt.Errorf("reading start time of init %d: %w", pid, err)
	}
	st := started{Pid: pid, PidStart: start, StartedAt: time.Now().UTC()}
	return writeJSONAtomic(filepath.Join(c.Dir, stateFile), st, !c.Config.AutoRemove)
}

// unstart takes back state.json of a container that failed to start, so
// it reads as created, not as exited.
func (m *Manager) unstart(c *Container, written <-chan error) {
	<-written
	_ = os.Remove(filepath.Join(c.Dir, stateFile))
}

// initFDs are the files the init is started with (see protocol.go).
type initFDs struct {
	files       []*os.File // fds 3 and up; nil entries are closed
	hasOOM      bool       // the OOM counter is open
	join, leave int        // cgroup files after FdStderr
}

// initFiles opens what the init gets as fds 3 and up (see protocol.go).
func (m *Manager) initFiles(c *Container, cg cgroup, sync *os.File, stdio *Stdio) (fds initFDs, err error) {
	fds.files = make([]*os.File, containerinit.FdJoin-3)
	files := fds.files
	files[containerinit.FdSync-3] = sync
	if files[containerinit.FdStateDir-3], err = os.OpenFile(c.Dir, unix.O_DIRECTORY|os.O_RDONLY, 0); err != nil {
		return fds, fmt.Errorf("opening container directory: %w", err)
	}
	if files[containerinit.FdLog-3], err = os.OpenFile(c.LogPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
		return fds, fmt.Errorf("opening log file: %w", err)
	}
	if p := cg.OOMEventsPath(); p != "" {
		if f, err := os.Open(p); err == nil {
			files[containerinit.FdOOM-3], fds.hasOOM = f, true
		}
	}
	if stdio != nil {
		// The user's files are dup'ed: exec closes ours, the caller keeps theirs.
		for i, f := range []*os.File{stdio.In, stdio.Out, stdio.Err} {
			if f == nil || (i == 0 && !c.Config.OpenStdin) {
				continue
			}
			fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 10)
			if err != nil {
				return fds, fmt.Errorf("passing stdio to init: %w", err)
			}
			files[containerinit.FdStdin-3+i] = os.NewFile(uintptr(fd), f.Name())
		}
	}
	join, leave, err := cg.JoinFiles()
	if err != nil {
		return fds, err
	}
	fds.files = append(append(fds.files, join...), leave...)
	fds.join, fds.leave = len(join), len(leave)
	return fds, nil
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating init socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
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
