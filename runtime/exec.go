package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/runtime/containerinit"
)

// ExecConfig is one process to run in a running container.
type ExecConfig struct {
	Args       []string
	Env        []string // added to the container's environment (KEY=VALUE)
	User       string   // "" = the container's user; name, uid, name:group, uid:gid
	WorkingDir string   // "" = the container's
	TTY        bool
	Detach     bool // start it and return (the init reaps it)

	// Resize carries new sizes for the process's terminal while it runs,
	// with TTY: a CLI sends its own terminal's size on SIGWINCH. The first
	// size is taken from stdio's terminal, when one of its files is one.
	Resize <-chan WindowSize
	// Signals are sent on to the process while it runs. With TTY a
	// terminal's ^C needs none: it reaches the process through the pty,
	// as a byte its line discipline turns into SIGINT.
	Signals <-chan os.Signal
}

// WindowSize is a terminal's size in characters.
type WindowSize struct {
	Rows, Cols uint16
}

// ExecError is an exec whose process did not start. Code is docker exec's
// exit code for the failure: 126 when the command cannot be executed, 127
// when it does not exist, 125 when berth failed.
type ExecError struct {
	Container string // name
	Code      int
	Err       error
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("exec in container %s: %v", e.Container, e.Err)
}

func (e *ExecError) Unwrap() error { return e.Err }

// notRunningError is an exec into a container that does not run.
type notRunningError struct{ name string }

func (e *notRunningError) Error() string { return "container " + e.name + " is not running" }
func (e *notRunningError) Unwrap() error { return ErrNotRunning }

// execGrace is how long Exec waits, after the process ended, for the rest
// of its output: a background child may still hold its stdout.
const execGrace = 2 * time.Second

// Exec runs cfg in c, with stdio (nil: discard; In may be nil) and returns
// its exit code (126/127 for cannot execute / not found, as docker exec;
// 128+N for a process killed by signal N; 137 for one that died with its
// container). ctx cancels: the process and its process group are killed,
// and Exec returns 137 with ctx's error.
//
// The container's init forks the process (see containerinit/doc.go), so it
// is in every namespace, cgroup and security setting of the workload, and
// it dies with the container. stdio is never handed to the container:
// the process gets pipes (or a pty of the container's own) that Exec
// copies from and to. A read of stdio.In still pending when the process
// ends is left behind.
func (m *Manager) Exec(ctx context.Context, c *Container, cfg ExecConfig, stdio *Stdio) (int, error) {
	if !c.State.Running {
		return ExitSetupFailed, &notRunningError{c.Name()}
	}
	if err := refuseIfPaused(c, "exec in"); err != nil {
		// The frozen init could not fork the process: docker exec
		// refuses a paused container too.
		return ExitSetupFailed, err
	}
	if len(cfg.Args) == 0 || cfg.Args[0] == "" {
		return ExitSetupFailed, &ExecError{c.Name(), ExitSetupFailed, errors.New("no command given")}
	}
	if stdio == nil {
		stdio = &Stdio{}
	}
	conn, err := dialExec(c.Dir)
	if err != nil {
		// The container may have ended since c was read.
		if !readState(c.Dir).Running {
			return ExitSetupFailed, &notRunningError{c.Name()}
		}
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w (was it started by a berth without exec? then recreate it)", err)
		}
		return ExitSetupFailed, &ExecError{c.Name(), ExitSetupFailed, fmt.Errorf("connecting to the container's init: %w", err)}
	}
	defer conn.Close()
	s := &execSession{conn: conn, cfg: &cfg, stdio: stdio}
	defer s.closeAll()
	reply, err := s.begin()
	if err != nil {
		return ExitSetupFailed, &ExecError{c.Name(), ExitSetupFailed, err}
	}
	if reply.Error != "" {
		code := reply.Code
		if code == 0 {
			code = ExitSetupFailed
		}
		return code, &ExecError{c.Name(), code, errors.New(reply.Error)}
	}
	if cfg.Detach {
		return 0, nil
	}
	s.startCopies()
	stop := make(chan struct{})
	defer close(stop)
	cancelled := make(chan struct{})
	go s.forward(ctx, stop, cancelled)
	code, err := s.waitExit()
	s.finishCopies(execGrace)
	select {
	case <-cancelled:
		if err != nil {
			code = 128 + int(unix.SIGKILL)
		}
		return code, fmt.Errorf("exec in container %s: %w", c.Name(), ctx.Err())
	default:
	}
	if err != nil {
		if initEnds(c.Dir, initEndWait) {
			// The container was killed (its init SIGKILLed): the
			// kernel killed every process of it, this one too, before
			// anyone could tell. docker exec says 137 and nothing else.
			return 128 + int(unix.SIGKILL), nil
		}
		return 128 + int(unix.SIGKILL), fmt.Errorf("exec in container %s: %w", c.Name(), err)
	}
	return code, nil
}

// initEndWait bounds how long Exec waits, after the process's connection
// closed without its exit, for the container's init to be gone: a killed
// init becomes a zombie only once the kernel has killed every other
// process of its namespace, the exec'd one (and the connection) first.
const initEndWait = time.Second

// initEnds reports whether the container in dir stops running within wait.
func initEnds(dir string, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for readState(dir).Running {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// forward passes resizes and signals to the process until stop, and kills
// it when ctx ends first (closing cancelled).
func (s *execSession) forward(ctx context.Context, stop <-chan struct{}, cancelled chan<- struct{}) {
	for {
		select {
		case <-stop:
			return
		case ws, ok := <-s.cfg.Resize:
			if !ok {
				s.cfg.Resize = nil
				continue
			}
			s.resize(ws)
		case sig, ok := <-s.cfg.Signals:
			if !ok {
				s.cfg.Signals = nil
				continue
			}
			if n, isUnix := sig.(unix.Signal); isUnix {
				_ = s.send(containerinit.ExecControl{Signal: int(n)})
			}
		case <-ctx.Done():
			close(cancelled)
			_ = s.send(containerinit.ExecControl{Signal: int(unix.SIGKILL), Group: true})
			// The init answers with the exit; should it not, give up.
			_ = s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			return
		}
	}
}
