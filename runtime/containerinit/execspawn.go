package containerinit

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// workloadCgroupNS is the cgroup namespace the workload was forked into,
// opened by forkWorkload: exec'd processes join it, so they see the
// container's groups as "/" as the workload does. -1 until then.
var workloadCgroupNS = -1

// execProcess is a process started for a client.
type execProcess struct {
	pid    int
	master *os.File             // the pty master, with TTY, for the client
	exited chan unix.WaitStatus // gets its wait status; nil when detached
}

// start runs req's process as the workload runs: the container's user
// (or req's), environment rules, capabilities, no_new_privs and cgroups.
// It takes files, the process's stdio, and closes them.
func (s *execServer) start(req *ExecRequest, files []*os.File) (*execProcess, error) {
	defer closeFiles(files)
	user := req.User
	if user == "" {
		user = s.spec.User
	}
	u, err := lookupUser(user, "/etc/passwd", "/etc/group")
	if err != nil {
		return nil, err
	}
	tty := req.TTY && !req.Detach
	env := workloadEnv(MergeEnv(s.spec.Env, req.Env), tty, u.Home)
	cwd := req.WorkingDir
	if cwd == "" {
		cwd = s.spec.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if st, err := os.Stat(cwd); err != nil || !st.IsDir() {
		return nil, &initError{ExitCannotExecute, fmt.Errorf("working directory %s: not a directory in the container", cwd)}
	}
	argv0, err := findExecutable(req.Args, env, cwd)
	if err != nil {
		return nil, err
	}
	child, master, err := execStdio(req, files, tty)
	if err != nil {
		return nil, err
	}
	pid, exited, err := s.spawn(argv0, req.Args, env, cwd, u, tty, child, !req.Detach)
	closeFiles(uniqueFiles(child))
	if err != nil {
		if master != nil {
			master.Close()
		}
		return nil, execError(req.Args[0], err)
	}
	return &execProcess{pid: pid, master: master, exited: exited}, nil
}

// execStdio makes the process's fds 0-2: a new pty of the container's
// devpts with TTY (so `tty` names /dev/pts/N inside), else the client's
// files, /dev/null where it sent none. Client files are dup'ed: files
// are closed by the caller.
func execStdio(req *ExecRequest, files []*os.File, tty bool) (child [3]*os.File, master *os.File, err error) {
	if tty {
		m, slave, err := pty.Open()
		if err != nil {
			return child, nil, fmt.Errorf("opening a pseudo-terminal: %w", err)
		}
		if req.Rows > 0 && req.Cols > 0 {
			_ = pty.Setsize(m, &pty.Winsize{Rows: req.Rows, Cols: req.Cols})
		}
		return [3]*os.File{slave, slave, slave}, m, nil
	}
	want := []bool{req.Stdin, req.Stdout, req.Stderr}
	if req.Detach {
		want = []bool{false, false, false}
	} else if n := countTrue(want); n != len(files) {
		return child, nil, fmt.Errorf("the exec request names %d files and carries %d", n, len(files))
	}
	next := 0
	for i, ok := range want {
		if ok {
			child[i], err = dupFile(files[next])
			next++
		} else {
			child[i], err = os.OpenFile("/dev/null", os.O_RDWR, 0)
		}
		if err != nil {
			closeFiles(child[:])
			return [3]*os.File{}, nil, fmt.Errorf("setting up the process's stdio: %w", err)
		}
	}
	return child, nil, nil
}

// spawn forks the process from a thread of its own, marked as the
// workload's forking thread is (see spawnWorkload), under mu.
func (s *execServer) spawn(argv0 string, argv, env []string, cwd string, u execUser, tty bool, child [3]*os.File, attached bool) (int, chan unix.WaitStatus, error) {
	type result struct {
		pid    int
		exited chan unix.WaitStatus
		err    error
	}
	files := []uintptr{child[0].Fd(), child[1].Fd(), child[2].Fd()}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread's marks end with it.
		goruntime.LockOSThread()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			done <- result{err: &initError{ExitSetupFailed, errors.New("the container is stopping")}}
			return
		}
		pid, err := s.forkExec(argv0, argv, env, cwd, u, tty, files)
		var exited chan unix.WaitStatus
		if pid > 0 && attached {
			// Registered even on an error, so signal can kill it.
			exited = make(chan unix.WaitStatus, 1)
			s.waiting[pid] = exited
		}
		done <- result{pid, exited, err}
	}()
	r := <-done
	if r.err != nil && r.pid > 0 {
		s.signal(r.pid, unix.SIGKILL, false)
		_ = unix.Kill(r.pid, unix.SIGKILL) // detached: not registered
		return 0, nil, r.err
	}
	return r.pid, r.exited, r.err
}

// forkExec marks the calling thread and forks the process from it: into
// the workload's cgroups and cgroup namespace, with its capability bounding
// set and no_new_privs.
//
// Preconditions: on a locked OS thread that is never unlocked; s.mu held.
func (s *execServer) forkExec(argv0 string, argv, env []string, cwd string, u execUser, tty bool, files []uintptr) (pid int, err error) {
	if err := writeZero(FdJoin, s.join); err != nil {
		return 0, &initError{ExitSetupFailed, fmt.Errorf("moving into the container's cgroup: %w", err)}
	}
	// On v2 the whole init moved in for the fork; out it goes again, and
	// a process forked while it could not is killed by the caller.
	defer func() {
		if lerr := writeZero(FdJoin+s.join, s.leave); lerr != nil && err == nil {
			err = &initError{ExitSetupFailed, fmt.Errorf("leaving the container's cgroup: %w", lerr)}
		}
	}()
	if workloadCgroupNS >= 0 {
		if err := unix.Setns(workloadCgroupNS, unix.CLONE_NEWCGROUP); err != nil {
			return 0, &initError{ExitSetupFailed, fmt.Errorf("joining the container's cgroup namespace: %w", err)}
		}
	}
	// Every fd of the init (the socket, the log, other clients' files)
	// stays out: only files survive the exec, dup'ed onto 0-2.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 0, &initError{ExitSetupFailed, fmt.Errorf("marking fds close-on-exec: %w", err)}
	}
	if err := restrictThread(); err != nil {
		return 0, &initError{ExitSetupFailed, err}
	}
	attr := &syscall.ProcAttr{
		Dir:   cwd,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: u.Uid, Gid: u.Gid, Groups: u.Groups},
			// A session of its own: the init can kill its process
			// group, and with TTY the pty becomes its terminal.
			Setsid:  true,
			Setctty: tty,
			Ctty:    0,
		},
	}
	return syscall.ForkExec(argv0, argv, attr)
}

// MergeEnv is base with add's variables: a KEY in both takes add's value,
// in base's place; new ones follow, in add's order. berth run merges an
// image's environment with -e the same way.
func MergeEnv(base, add []string) []string {
	out := append([]string{}, base...)
	idx := map[string]int{}
	for i, e := range out {
		k, _, _ := strings.Cut(e, "=")
		idx[k] = i
	}
	for _, e := range add {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := idx[k]; ok {
			out[i] = e
			continue
		}
		idx[k] = len(out)
		out = append(out, e)
	}
	return out
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

func uniqueFiles(files [3]*os.File) []*os.File {
	var out []*os.File
	for _, f := range files {
		if f != nil && (len(out) == 0 || out[len(out)-1] != f) {
			out = append(out, f)
		}
	}
	return out
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
