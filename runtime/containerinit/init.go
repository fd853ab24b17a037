package containerinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// init pins a container init's main goroutine to the main thread, while
// package initialisation still runs there. Nothing else then ever runs on
// that thread, so the thread that forks the workload, and so joins the
// container's memory and pids groups for good (see spawnWorkload), is
// never the thread-group leader, whose group the kernel charges the whole
// process's memory to and /proc/PID/cgroup reports.
//
// An exec helper (ExecConnArg) does the same for its forks, and makes
// itself non-dumpable first of all: the shim's execve made it dumpable,
// and it runs among the container's processes (see doc.go, "The shim").
func init() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case ExecConnArg:
		_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
		goruntime.LockOSThread()
	case Arg:
		goruntime.LockOSThread()
	}
}

// MaybeRun turns this process into a container's init (or an exec helper)
// when it was started as one, and never returns in that case. berth's main
// calls it first thing: the berth binary is the init's fallback when
// berth-init is not installed beside it.
func MaybeRun() {
	if len(os.Args) < 2 || (os.Args[1] != Arg && os.Args[1] != ExecConnArg) {
		return
	}
	Main()
}

// Main is the init's whole life (or an exec helper's); it never returns.
func Main() {
	if len(os.Args) >= 2 && os.Args[1] == ExecConnArg {
		os.Exit(runExecConn())
	}
	os.Exit(runInit())
}

// Exit codes of a container that never got to run its command, as Docker's.
const (
	ExitSetupFailed   = 125 // berth (or the init) failed
	ExitCannotExecute = 126 // the command exists but cannot be executed
	ExitNotFound      = 127 // the command was not found
)

// initError is a failure of the init before the workload started, with the
// exit code the user should see.
type initError struct {
	code int
	err  error
}

func (e *initError) Error() string { return e.err.Error() }

// replyFailure tells berth that the container could not start, and why,
// and returns the exit code the user should see: an initError's, else
// ExitSetupFailed.
func replyFailure(sync *os.File, err error) int {
	code := ExitSetupFailed
	var ie *initError
	if errors.As(err, &ie) {
		code = ie.code
	}
	_ = json.NewEncoder(sync).Encode(Reply{Error: err.Error(), Code: code})
	return code
}

func runInit() int {
	// Nothing in the container may read the host fds we hold through
	// /proc/1 (fd, exe, environ): a non-dumpable process is only reachable
	// with CAP_SYS_PTRACE, which containers do not get.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// We were exec'ed as /proc/self/fd/N; show a name in ps instead.
	_ = os.WriteFile("/proc/self/comm", []byte("berth-init"), 0)
	// The sealed binaries, with a shim, go to nothing the init starts
	// but the shim and the gate, which get them explicitly.
	unix.CloseOnExec(FdInitExe)
	unix.CloseOnExec(FdShimExe)
	sigs, sigsReady := notifySignals()
	sync := os.NewFile(FdSync, "sync")
	b, err := receiveBootstrap()
	if err != nil {
		return replyFailure(sync, err)
	}
	w, err := startContainer(b, sigsReady)
	if err != nil {
		return replyFailure(sync, err)
	}
	if w.gate != nil {
		// From here on berth-shim supervises, in this process's place;
		// handOver returns only when it could not exec the shim.
		err := handOver(b, w, sigs)
		fmt.Fprintf(os.Stderr, "berth-init: %v; the Go init supervises instead\n", err)
		if err := w.gate.open(); err != nil {
			w.exec.close()
			return replyFailure(sync, err)
		}
	}
	_ = json.NewEncoder(sync).Encode(Reply{Pid: w.pid})
	sync.Close()
	return supervise(b, w, sigs)
}

// startContainer finishes the container inside its namespaces and starts
// the workload.
func startContainer(b *Bootstrap, sigsReady <-chan struct{}) (*workload, error) {
	c := &b.Spec
	if err := setHostname(c); err != nil {
		return nil, err
	}
	if err := prepareRootfs(b); err != nil {
		return nil, err
	}
	if err := loopbackUp(); err != nil {
		return nil, fmt.Errorf("bringing up loopback: %w", err)
	}
	u, err := lookupUser(c.User, "/etc/passwd", "/etc/group")
	if err != nil {
		return nil, err
	}
	env := workloadEnv(c.Env, c.TTY, u.Home)
	cwd, err := workingDir(c.WorkingDir)
	if err != nil {
		return nil, err
	}
	argv0, err := findExecutable(c.Args, env, cwd)
	if err != nil {
		return nil, err
	}
	stdio, err := newWorkloadIO(b)
	if err != nil {
		return nil, err
	}
	// The socket exists before the workload does: once berth sees the
	// container running, exec can connect.
	execs, err := listenExec(b)
	if err != nil {
		return nil, err
	}
	<-sigsReady
	var g *gate
	if b.Shim {
		if g, err = newGate(c.Args[0]); err != nil {
			execs.close()
			return nil, err
		}
	}
	pid, err := spawnWorkload(argv0, c.Args, env, cwd, u, c.TTY, stdio.childFiles(), b.Join, b.Leave, g)
	stdio.closeChildEnds()
	g.closeChildEnds()
	if err != nil {
		execs.close()
		g.close()
		return nil, execError(c.Args[0], err)
	}
	return &workload{pid: pid, io: stdio, exec: execs, gate: g}, nil
}

func setHostname(c *Spec) error {
	if c.Hostname != "" {
		if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
			return fmt.Errorf("setting hostname %q: %w", c.Hostname, err)
		}
	}
	if c.Domainname != "" {
		if err := unix.Setdomainname([]byte(c.Domainname)); err != nil {
			return fmt.Errorf("setting domain name %q: %w", c.Domainname, err)
		}
	}
	return nil
}

// spawnWorkload forks and execs the workload from a thread of its own,
// marked with the container's security settings: capability bounding set,
// no_new_privs, cgroup namespace and (on v1) the container's memory and
// pids groups are per thread in Linux, and the child inherits the
// thread's. The thread is never unlocked, so it ends with this call and
// its marks never reach the init; the Go runtime starts new threads from a
// clean template thread, never from a locked one. With a gate (the shim's
// hand-over) the child execs berth-shim's gate, which execs argv0 once
// the shim lets it.
func spawnWorkload(argv0 string, argv, env []string, cwd string, u execUser, tty bool, files []uintptr, join, leave int, g *gate) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		pid, err := forkWorkload(argv0, argv, env, cwd, u, tty, files, join, g)
		// On v2 the whole init moved in for the fork; out it goes again.
		if lerr := writeZero(FdJoin+join, leave); lerr != nil && err == nil {
			err = &initError{ExitSetupFailed, fmt.Errorf("leaving the container's cgroup: %w", lerr)}
		}
		done <- result{pid, err}
	}()
	r := <-done
	return r.pid, r.err
}

// forkWorkload marks the calling thread and forks the workload from it.
//
// Preconditions: on a locked OS thread that is never unlocked.
func forkWorkload(argv0 string, argv, env []string, cwd string, u execUser, tty bool, files []uintptr, join int, g *gate) (int, error) {
	// Into the groups the init stays out of: v1 memory and pids for this
	// thread, v2 the container's group for the whole init.
	if err := writeZero(FdJoin, join); err != nil {
		return 0, &initError{ExitSetupFailed, fmt.Errorf("moving into the container's cgroup: %w", err)}
	}
	// The cgroup namespace is entered only now, inside every group of the
	// container, so the workload sees its groups as "/".
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return 0, &initError{ExitSetupFailed, fmt.Errorf("creating cgroup namespace: %w", err)}
	}
	if err := mountCgroupfs(cgroupMounts); err != nil {
		return 0, &initError{ExitSetupFailed, err}
	}
	// Kept for exec'd processes, which join it (see execServer.forkExec).
	ns, err := unix.Open("/proc/thread-self/ns/cgroup", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &initError{ExitSetupFailed, fmt.Errorf("opening the container's cgroup namespace: %w", err)}
	}
	workloadCgroupNS = ns
	// Every fd the init holds (the host's state directory, the log, the
	// user's terminal) stays out of the workload: only files[] survive the
	// exec, dup'ed onto 0-2.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 0, &initError{ExitSetupFailed, fmt.Errorf("marking fds close-on-exec: %w", err)}
	}
	if err := restrictThread(); err != nil {
		return 0, &initError{ExitSetupFailed, err}
	}
	if g != nil {
		argv0, argv, files = g.command(argv0, argv, files)
	}
	attr := &syscall.ProcAttr{
		Dir:   cwd,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: u.Uid, Gid: u.Gid, Groups: u.Groups},
			Setsid:     true,
			Setctty:    tty,
			Ctty:       0,
		},
	}
	return syscall.ForkExec(argv0, argv, attr)
}

// execError turns a failed exec into the exit code Docker uses for it.
func execError(name string, err error) error {
	var ie *initError
	if errors.As(err, &ie) {
		return err
	}
	switch {
	case errors.Is(err, syscall.ENOENT):
		return &initError{ExitNotFound, fmt.Errorf("exec %q: no such file or directory", name)}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EPERM):
		return &initError{ExitCannotExecute, fmt.Errorf("exec %q: %w", name, err)}
	}
	return &initError{ExitSetupFailed, fmt.Errorf("starting %q: %w", name, err)}
}

// writeZero writes "0" into the n cgroup files from fd first on: in a v1
// "tasks" file that moves the calling thread, in "cgroup.procs" the
// calling process.
func writeZero(first, n int) error {
	for fd := first; fd < first+n; fd++ {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return err
		}
	}
	return nil
}

// receiveBootstrap reads the parent's one message and moves the files that
// came with it to the fd numbers it names.
func receiveBootstrap() (*Bootstrap, error) {
	// Peek at the message's size first: a buffer of MaxBootstrap would
	// stay in the init's memory for the container's whole life.
	size, _, _, _, err := unix.Recvmsg(FdSync, nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("reading the container's configuration: %w", err)
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(64*4))
	n, oobn, flags, _, err := unix.Recvmsg(FdSync, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("reading the container's configuration: %w", err)
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return nil, errors.New("reading the container's configuration: message truncated")
	}
	var fds []int
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("reading the container's files: %w", err)
	}
	for _, m := range msgs {
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, fmt.Errorf("reading the container's files: %w", err)
		}
		fds = append(fds, got...)
	}
	var b Bootstrap
	if err := json.Unmarshal(buf[:n], &b); err != nil {
		return nil, fmt.Errorf("reading the container's configuration: %w", err)
	}
	if len(fds) != len(b.Fds) {
		return nil, fmt.Errorf("got %d files for %d slots", len(fds), len(b.Fds))
	}
	// Received fds land on the lowest free numbers, which may be slots
	// still to fill: park them all high first, then move them in.
	for i, fd := range fds {
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 512)
		if err != nil {
			return nil, fmt.Errorf("placing the container's files: %w", err)
		}
		unix.Close(fd)
		fds[i] = high
	}
	for i, fd := range fds {
		if err := unix.Dup3(fd, b.Fds[i], 0); err != nil {
			return nil, fmt.Errorf("placing the container's files: %w", err)
		}
		unix.Close(fd)
	}
	return &b, nil
}
