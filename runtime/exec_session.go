package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/runtime/containerinit"
)

// execSession is one Exec's side of the exec protocol (see
// containerinit/execproto.go), and the copies between the process's
// stdio and the caller's.
type execSession struct {
	conn  *net.UnixConn
	cfg   *ExecConfig
	stdio *Stdio

	master *os.File // the pty master, with TTY
	// Our ends of the process's pipes, without TTY: we write its stdin
	// and read its stdout and stderr.
	stdinW, stdoutR, stderrR *os.File
	child                    []*os.File // their ends, sent with the request

	out sync.WaitGroup // the output copies
}

// dialExec connects to the exec socket of the container in dir. A path
// too long for sun_path is reached through an fd of the directory.
func dialExec(dir string) (*net.UnixConn, error) {
	path := filepath.Join(dir, containerinit.ExecSocket)
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		d, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		path = "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/" + containerinit.ExecSocket
	}
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
}

// begin sends the request with the process's stdio and reads whether it
// started.
func (s *execSession) begin() (containerinit.ExecReply, error) {
	var reply containerinit.ExecReply
	req := containerinit.ExecRequest{
		Args: s.cfg.Args, Env: s.cfg.Env, User: s.cfg.User, WorkingDir: s.cfg.WorkingDir,
		TTY: s.cfg.TTY, Detach: s.cfg.Detach,
	}
	if s.cfg.TTY {
		for _, f := range []*os.File{s.stdio.Out, s.stdio.In, s.stdio.Err} {
			if ws, ok := termSize(f); ok {
				req.Rows, req.Cols = ws.Rows, ws.Cols
				break
			}
		}
	} else if !s.cfg.Detach {
		if err := s.makePipes(&req); err != nil {
			return reply, err
		}
	}
	data, err := json.Marshal(req)
	if err != nil {
		return reply, err
	}
	if len(data) > containerinit.MaxExecRequest {
		return reply, fmt.Errorf("the command and environment take %d bytes; at most %d fit", len(data), containerinit.MaxExecRequest)
	}
	fds := make([]int, len(s.child))
	for i, f := range s.child {
		fds[i] = int(f.Fd())
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := s.conn.WriteMsgUnix(data, oob, nil); err != nil {
		return reply, fmt.Errorf("sending the exec request: %w", err)
	}
	closeAll(s.child)
	s.child = nil
	return s.readStarted()
}

// makePipes makes a pipe for each of the caller's stdio files; the
// process's ends go with the request.
func (s *execSession) makePipes(req *containerinit.ExecRequest) error {
	pipe := func(ours **os.File, childReads bool) error {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("creating a pipe for the process's stdio: %w", err)
		}
		if childReads {
			*ours = w
			s.child = append(s.child, r)
		} else {
			*ours = r
			s.child = append(s.child, w)
		}
		return nil
	}
	if s.stdio.In != nil {
		req.Stdin = true
		if err := pipe(&s.stdinW, true); err != nil {
			return err
		}
	}
	if s.stdio.Out != nil {
		req.Stdout = true
		if err := pipe(&s.stdoutR, false); err != nil {
			return err
		}
	}
	if s.stdio.Err != nil {
		req.Stderr = true
		if err := pipe(&s.stderrR, false); err != nil {
			return err
		}
	}
	return nil
}

// readStarted reads the init's first reply, with the pty master for TTY.
func (s *execSession) readStarted() (containerinit.ExecReply, error) {
	var reply containerinit.ExecReply
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return reply, fmt.Errorf("reading the init's answer: %w", err)
	}
	if n == 0 {
		return reply, errors.New("the init hung up without an answer (is the container stopping?)")
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if got, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
		if s.master == nil && s.cfg.TTY {
			// Nonblocking, so that closing it ends a pending read.
			_ = unix.SetNonblock(fd, true)
			s.master = os.NewFile(uintptr(fd), "pty-master")
			continue
		}
		unix.Close(fd)
	}
	if err := json.Unmarshal(buf[:n], &reply); err != nil {
		return reply, fmt.Errorf("reading the init's answer: %w", err)
	}
	if reply.Error == "" && s.cfg.TTY && !s.cfg.Detach && s.master == nil {
		return reply, errors.New("the init sent no terminal")
	}
	return reply, nil
}

// startCopies copies between the caller's stdio and the process's.
func (s *execSession) startCopies() {
	copyOut := func(dst *os.File, src *os.File) {
		s.out.Add(1)
		go func() {
			defer s.out.Done()
			var w io.Writer = io.Discard
			if dst != nil {
				w = dst
			}
			// Ends at EOF (EIO for a pty whose last slave closed) or
			// when finishCopies closes src.
			_, _ = io.Copy(w, src)
		}()
	}
	if s.master != nil {
		copyOut(s.stdio.Out, s.master)
		if s.stdio.In != nil {
			go func() { _, _ = io.Copy(s.master, s.stdio.In) }()
		}
		return
	}
	if s.stdoutR != nil {
		copyOut(s.stdio.Out, s.stdoutR)
	}
	if s.stderrR != nil {
		copyOut(s.stdio.Err, s.stderrR)
	}
	if w := s.stdinW; w != nil {
		go func() {
			_, _ = io.Copy(w, s.stdio.In)
			w.Close() // the process reads EOF
		}()
	}
}

// waitExit reads messages until the process's exit code.
func (s *execSession) waitExit() (int, error) {
	buf := make([]byte, 4096)
	for {
		n, _, _, _, err := s.conn.ReadMsgUnix(buf, nil)
		if err != nil {
			return 0, fmt.Errorf("waiting for the process: %w", err)
		}
		if n == 0 {
			return 0, errors.New("the container's init went away before the process ended")
		}
		var r containerinit.ExecReply
		if err := json.Unmarshal(buf[:n], &r); err == nil && r.Exited {
			return r.ExitCode, nil
		}
	}
}

// finishCopies waits up to grace for the output to end, then cuts it off.
func (s *execSession) finishCopies(grace time.Duration) {
	done := make(chan struct{})
	go func() {
		s.out.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	for _, f := range []*os.File{s.master, s.stdoutR, s.stderrR} {
		if f != nil {
			f.Close()
		}
	}
	<-done
}

// send sends a control message for the running process.
func (s *execSession) send(c containerinit.ExecControl) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = s.conn.Write(data)
	return err
}

// resize sets the size of the process's terminal; the kernel signals
// SIGWINCH to its foreground process group.
func (s *execSession) resize(ws WindowSize) {
	if s.master == nil || ws.Rows == 0 || ws.Cols == 0 {
		return
	}
	rc, err := s.master.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
	})
}

func (s *execSession) closeAll() {
	closeAll(s.child)
	closeAll([]*os.File{s.master, s.stdinW, s.stdoutR, s.stderrR})
}

// termSize is the size of the terminal f is, if it is one. It goes through
// SyscallConn, since f.Fd() would make f blocking for good.
func termSize(f *os.File) (WindowSize, bool) {
	if f == nil {
		return WindowSize{}, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return WindowSize{}, false
	}
	var ws *unix.Winsize
	var werr error
	if err := rc.Control(func(fd uintptr) { ws, werr = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) }); err != nil || werr != nil {
		return WindowSize{}, false
	}
	return WindowSize{Rows: ws.Row, Cols: ws.Col}, true
}
