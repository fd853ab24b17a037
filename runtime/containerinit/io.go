package containerinit

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// workload is the container's main process, as the init sees it.
type workload struct {
	pid  int // inside the container's PID namespace
	io   *workloadIO
	exec *execServer
	gate *gate // with a shim: holds the workload before its exec
}

// workloadIO connects the workload's stdio to the log and, when a user is
// attached, to their terminal. The workload never gets a host fd: its
// stdio are pipes or a pty of the container's own devpts.
type workloadIO struct {
	log   *logWriter
	child [3]*os.File // the workload's 0, 1, 2

	master *os.File // pty master, with a TTY
	stdinW *os.File // the workload's stdin pipe, with -i and no TTY
	outR   *os.File // the workload's stdout pipe, without a TTY
	errR   *os.File

	userIn, userOut, userErr *os.File // the attached user's, or nil

	wg sync.WaitGroup // the output copiers
}

func newWorkloadIO(b *Bootstrap) (*workloadIO, error) {
	c := &b.Spec
	w := &workloadIO{log: newLogWriter(os.NewFile(FdLog, "log"))}
	if b.Attached {
		w.userOut = os.NewFile(FdStdout, "user-stdout")
		w.userErr = os.NewFile(FdStderr, "user-stderr")
		if c.OpenStdin {
			w.userIn = os.NewFile(FdStdin, "user-stdin")
		}
	}
	if c.TTY {
		master, slave, err := pty.Open()
		if err != nil {
			return nil, fmt.Errorf("opening a pseudo-terminal: %w", err)
		}
		w.master = master
		w.child = [3]*os.File{slave, slave, slave}
		w.resize()
		return w, nil
	}
	var err error
	if c.OpenStdin {
		var r *os.File
		if r, w.stdinW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("creating stdin pipe: %w", err)
		}
		w.child[0] = r
	} else if w.child[0], err = os.Open("/dev/null"); err != nil {
		return nil, fmt.Errorf("opening /dev/null: %w", err)
	}
	if w.outR, w.child[1], err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("creating stdout pipe: %w", err)
	}
	if w.errR, w.child[2], err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("creating stderr pipe: %w", err)
	}
	return w, nil
}

func (w *workloadIO) childFiles() []uintptr {
	return []uintptr{w.child[0].Fd(), w.child[1].Fd(), w.child[2].Fd()}
}

// closeChildEnds closes our copies of the workload's ends, so its exit
// means EOF for us.
func (w *workloadIO) closeChildEnds() {
	seen := map[*os.File]bool{}
	for _, f := range w.child {
		if f != nil && !seen[f] {
			seen[f] = true
			f.Close()
		}
	}
}

// start begins copying in both directions.
func (w *workloadIO) start() {
	if w.master != nil {
		w.copyOut(w.master, "stdout", w.userOut)
		if w.userIn != nil {
			go copyIgnoringErrors(w.master, w.userIn)
		}
		return
	}
	w.copyOut(w.outR, "stdout", w.userOut)
	w.copyOut(w.errR, "stderr", w.userErr)
	if w.stdinW != nil {
		go func() {
			if w.userIn != nil {
				copyIgnoringErrors(w.stdinW, w.userIn)
			}
			w.stdinW.Close()
		}()
	}
}

func (w *workloadIO) copyOut(r *os.File, stream string, user *os.File) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		buf := make([]byte, 8<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				w.log.write(stream, buf[:n])
				if user != nil {
					// The user may have gone away; the log goes on.
					if _, werr := user.Write(buf[:n]); werr != nil {
						user = nil
					}
				}
			}
			if err != nil {
				return // EOF, or EIO from a pty whose last slave closed
			}
		}
	}()
}

// wait blocks until every writer of the workload's output is gone.
func (w *workloadIO) wait() {
	w.wg.Wait()
	w.log.flush()
}

// resize copies the attached terminal's size to the container's pty.
func (w *workloadIO) resize() {
	if w.master == nil {
		return
	}
	for _, f := range []*os.File{w.userIn, w.userOut} {
		if f == nil {
			continue
		}
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
			_ = unix.IoctlSetWinsize(int(w.master.Fd()), unix.TIOCSWINSZ, ws)
			return
		}
	}
}

// copyIgnoringErrors copies until either side fails: a user who goes away
// or a workload that closes its stdin ends the copy, and neither is an error
// of the container.
func copyIgnoringErrors(dst io.Writer, src io.Reader) {
	_, _ = io.Copy(dst, src)
}
