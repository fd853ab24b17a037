package containerinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// execServer runs processes in the running container for the clients of
// its exec socket (see execproto.go and doc.go).
type execServer struct {
	spec        *Spec
	ln          *os.File // the listening socket; nonblocking, so Close ends the accept
	join, leave int      // as Bootstrap's: the cgroup files a fork steps in and out by

	// mu is held across every fork. reap hands an exit over under it, so
	// a pid is registered before its exit can be looked up; and on v2,
	// where a fork moves the whole init into the container's group and
	// back, one fork at a time does.
	mu      sync.Mutex
	waiting map[int]chan unix.WaitStatus // attached processes by pid, until reaped
	closed  bool                         // the workload is gone: no more forks or connections
	conns   sync.WaitGroup               // connections being served; Add only under mu, before closed
}

// listenExec creates the exec socket in the container's directory, before
// the workload starts. It binds through /proc/self/fd/FdStateDir, whatever
// the directory's path: that name always fits sun_path (108 bytes), and it
// reaches the host's directory from inside the container's mount namespace.
//
// Preconditions: FdStateDir is open; /proc is mounted.
func listenExec(b *Bootstrap) (*execServer, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("creating the exec socket: %w", err)
	}
	_ = unix.Unlinkat(FdStateDir, ExecSocket, 0)
	path := "/proc/self/fd/" + strconv.Itoa(FdStateDir) + "/" + ExecSocket
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("creating the exec socket %s: %w", ExecSocket, err)
	}
	// The directory is 0700 already; the socket is root's alone as well.
	if err := unix.Fchmodat(FdStateDir, ExecSocket, 0o600, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("restricting the exec socket: %w", err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listening on the exec socket: %w", err)
	}
	return &execServer{
		spec: &b.Spec, ln: os.NewFile(uintptr(fd), ExecSocket),
		join: b.Join, leave: b.Leave, waiting: map[int]chan unix.WaitStatus{},
	}, nil
}

// serve accepts connections until close, each served by a goroutine.
func (s *execServer) serve() {
	if s == nil {
		return
	}
	rc, err := s.ln.SyscallConn()
	if err != nil {
		return
	}
	go func() {
		for {
			var nfd int
			var aerr error
			err := rc.Read(func(fd uintptr) bool {
				nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
				return aerr != unix.EAGAIN
			})
			if err != nil {
				return // closed
			}
			if aerr != nil {
				// Out of fds, or a client gone before we got to it.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn := os.NewFile(uintptr(nfd), "exec")
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				conn.Close()
				return
			}
			s.conns.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.conns.Done()
				s.handle(conn)
			}()
		}
	}()
}

// handle serves one connection: one process.
func (s *execServer) handle(conn *os.File) {
	defer conn.Close()
	req, files, err := readExecRequest(conn)
	if err != nil {
		_ = sendExecReply(conn, ExecReply{Error: err.Error(), Code: ExitSetupFailed}, nil)
		return
	}
	p, err := s.start(&req, files)
	if err != nil {
		code := ExitSetupFailed
		var ie *initError
		if errors.As(err, &ie) {
			code = ie.code
		}
		_ = sendExecReply(conn, ExecReply{Error: err.Error(), Code: code}, nil)
		return
	}
	err = sendExecReply(conn, ExecReply{Pid: p.pid}, p.master)
	if p.master != nil {
		p.master.Close() // the client's now
	}
	if req.Detach {
		return
	}
	if err != nil {
		s.signal(p.pid, unix.SIGKILL, true)
	}
	s.wait(conn, p)
}

// wait forwards the client's signals until the process ends, and then
// sends its exit code. A client that hangs up takes the process with it.
func (s *execServer) wait(conn *os.File, p *execProcess) {
	stop := make(chan struct{})
	defer close(stop)
	ctl := make(chan ExecControl)
	go func() {
		defer close(ctl)
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if err != nil || n == 0 {
				return // hung up, or conn closed by handle
			}
			var c ExecControl
			if json.Unmarshal(buf[:n], &c) != nil {
				continue
			}
			select {
			case ctl <- c:
			case <-stop:
				return
			}
		}
	}()
	for {
		select {
		case st := <-p.exited:
			_ = sendExecReply(conn, ExecReply{Exited: true, ExitCode: exitCodeOf(st)}, nil)
			return
		case c, ok := <-ctl:
			if !ok {
				ctl = nil
				s.signal(p.pid, unix.SIGKILL, true)
				continue
			}
			if c.Signal > 0 && c.Signal <= 64 {
				s.signal(p.pid, unix.Signal(c.Signal), c.Group)
			}
		}
	}
}

// signal sends sig to an attached process (to its process group with
// group) while it is unreaped, so never to a later process with its pid.
func (s *execServer) signal(pid int, sig unix.Signal, group bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.waiting[pid]; !ok {
		return
	}
	if group {
		_ = unix.Kill(-pid, sig)
	}
	_ = unix.Kill(pid, sig)
}

// exited hands the exit of pid to its client, if an attached exec'd
// process has that pid. reap calls it for every child but the workload.
func (s *execServer) exited(pid int, st unix.WaitStatus) {
	if s == nil {
		return
	}
	s.mu.Lock()
	ch, ok := s.waiting[pid]
	delete(s.waiting, pid)
	s.mu.Unlock()
	if ok {
		ch <- st // buffered
	}
}

// close stops the server once the workload has ended: no fork starts
// after it returns, and the socket is gone from the directory, so a
// client sees the container is not running.
func (s *execServer) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = unix.Unlinkat(FdStateDir, ExecSocket, 0)
	s.ln.Close()
}

// drain gives the clients up to d to receive their processes' exit codes,
// after close and the final reaping.
func (s *execServer) drain(d time.Duration) {
	if s == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// exitCodeOf is a process's exit code as a shell reports it.
func exitCodeOf(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// readExecRequest reads a client's request and the files that came with it.
func readExecRequest(conn *os.File) (ExecRequest, []*os.File, error) {
	var req ExecRequest
	rc, err := conn.SyscallConn()
	if err != nil {
		return req, nil, err
	}
	// Peek at the size first: the buffer is then just as large.
	var size int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		size, _, _, _, rerr = unix.Recvmsg(int(fd), nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		return rerr != unix.EAGAIN
	})
	if err = firstError(err, rerr); err != nil {
		return req, nil, fmt.Errorf("reading the exec request: %w", err)
	}
	if size == 0 {
		return req, nil, errors.New("reading the exec request: the client hung up")
	}
	if size > MaxExecRequest {
		return req, nil, fmt.Errorf("the exec request is %d bytes; at most %d fit (fewer or shorter arguments or variables?)", size, MaxExecRequest)
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(3*4))
	var n, oobn, flags int
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err = firstError(err, rerr); err != nil {
		return req, nil, fmt.Errorf("reading the exec request: %w", err)
	}
	var files []*os.File
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				files = append(files, os.NewFile(uintptr(fd), "exec-stdio"))
			}
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFiles(files)
		return req, nil, errors.New("reading the exec request: message truncated (more than 3 files?)")
	}
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		closeFiles(files)
		return req, nil, fmt.Errorf("reading the exec request: %w", err)
	}
	return req, files, nil
}

// sendExecReply sends r, and f with it when not nil.
func sendExecReply(conn *os.File, r ExecReply, f *os.File) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var oob []byte
	if f != nil {
		oob = unix.UnixRights(int(f.Fd()))
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), data, oob, nil, unix.MSG_NOSIGNAL) // a gone client is EPIPE
		return serr != unix.EAGAIN
	})
	return firstError(err, serr)
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}
