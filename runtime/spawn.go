package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/runtime/containerinit"
)

// initFlags are the namespaces a container's init is born into. The cgroup
// namespace comes later, from the init itself (see spawnWorkload).
const initFlags = unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWNET

// pendingInit is a container's init that has been started in its fresh
// namespaces and waits, blocked on its socket, to be told which container
// it is.
type pendingInit struct {
	cmd  *exec.Cmd
	sock *os.File // our end of the SOCK_SEQPACKET pair
	shim bool     // it has FdInitExe and FdShimExe, to hand over to berth-shim
}

// spawnInit starts an init that knows nothing yet: everything it needs
// (config and files) comes later, in one message, from handshake. So the
// init's start-up can run beside the container's preparation. With netns
// (a network namespace's path, as network.Attach binds one) the init is
// born inside that namespace instead of a new one, so every thread and
// child of it, the workload, exec'd processes and the /sys it mounts, is
// there from the start.
func spawnInit(netns string) (*pendingInit, error) {
	exe, shim, err := sealedExe()
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	extra := []*os.File{nil}
	if shim != nil {
		// FdInitExe and FdShimExe: the shim starts exec helpers from the
		// one, the workload's gate is the other.
		defer shim.Close()
		extra = append(extra, exe, shim)
	}
	// The child's fd 3 is the socket (ExtraFiles), so the path we exec
	// must name an fd above it.
	exeFd, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, 64)
	if err != nil {
		return nil, fmt.Errorf("duplicating sealed binary fd: %w", err)
	}
	defer unix.Close(exeFd)
	// SEQPACKET keeps message boundaries: the bootstrap and the files
	// that go with it arrive in one recvmsg, whatever their size.
	sfd, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("creating init socket: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(sfd[0]), "init-sock"), os.NewFile(uintptr(sfd[1]), "init-sock")
	defer theirs.Close()
	extra[0] = theirs
	flags := uintptr(initFlags)
	if netns != "" {
		flags &^= unix.CLONE_NEWNET
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/" + strconv.Itoa(exeFd),
		Args:       []string{"berth-init", containerinit.Arg},
		Env:        []string{"GOMAXPROCS=1", "GOGC=50"},
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			// Its own session: the user's ^C reaches the CLI, which
			// forwards it once, instead of hitting both.
			Setsid: true,
		},
	}
	if err := startIn(cmd, netns); err != nil {
		ours.Close()
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSPC) {
			return nil, fmt.Errorf("creating the container's namespaces (mount, pid, uts, ipc, net): %w: %w", ErrNamespaces, err)
		}
		return nil, fmt.Errorf("starting the container's init: %w", err)
	}
	return &pendingInit{cmd: cmd, sock: ours, shim: shim != nil}, nil
}

// startIn starts cmd, inside the network namespace at netns when that is
// set. A child inherits the namespaces of the thread that forks it, so the
// fork happens on a thread of its own that joins netns first; that thread
// is never unlocked, so Go ends it with its goroutine instead of running
// anything else in the container's namespace.
func startIn(cmd *exec.Cmd, netns string) error {
	if netns == "" {
		return cmd.Start()
	}
	ns, err := os.Open(netns)
	if err != nil {
		return fmt.Errorf("opening network namespace: %w", err)
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("joining network namespace %s: %w", netns, err)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}

// abort ends an init that will not get its container.
func (p *pendingInit) abort() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	p.sock.Close()
}

// send passes the bootstrap and its files to the init in one message.
func (p *pendingInit) send(b *containerinit.Bootstrap, files []*os.File) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if len(data) > containerinit.MaxBootstrap {
		return fmt.Errorf("the container's configuration is %d bytes; at most %d fit (fewer or shorter environment variables?)", len(data), containerinit.MaxBootstrap)
	}
	return unix.Sendmsg(int(p.sock.Fd()), data, unix.UnixRights(fds...), nil, 0)
}

// receive reads the init's reply.
func (p *pendingInit) receive() (containerinit.Reply, error) {
	var r containerinit.Reply
	buf := make([]byte, 64<<10)
	n, err := p.sock.Read(buf)
	if err != nil {
		return r, err
	}
	if n == 0 {
		return r, errors.New("the init closed its socket")
	}
	return r, json.Unmarshal(buf[:n], &r)
}

// initFDs are the files the init gets with its bootstrap, and the fd
// number each must have in the init (see protocol.go).
type initFDs struct {
	files       []*os.File
	targets     []int
	hasOOM      bool // the OOM counter is among them
	join, leave int  // cgroup files, at FdJoin and after
}

func (f *initFDs) add(file *os.File, target int) {
	f.files = append(f.files, file)
	f.targets = append(f.targets, target)
}

// initFiles opens what the init gets with its bootstrap.
func (m *Manager) initFiles(c *Container, cg cgroup, stdio *Stdio) (fds initFDs, err error) {
	// The init's own stderr: where a crash of the init itself (a Go
	// panic) lands, for the error message and for whoever debugs it.
	initLog, err := os.OpenFile(filepath.Join(c.Dir, initLogFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fds, fmt.Errorf("opening init log: %w", err)
	}
	fds.add(initLog, 2)
	dir, err := os.OpenFile(c.Dir, unix.O_DIRECTORY|os.O_RDONLY, 0)
	if err != nil {
		return fds, fmt.Errorf("opening container directory: %w", err)
	}
	fds.add(dir, containerinit.FdStateDir)
	log, err := os.OpenFile(c.LogPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fds, fmt.Errorf("opening log file: %w", err)
	}
	fds.add(log, containerinit.FdLog)
	if p := cg.OOMEventsPath(); p != "" {
		if f, err := os.Open(p); err == nil {
			fds.add(f, containerinit.FdOOM)
			fds.hasOOM = true
		}
	}
	if stdio != nil {
		// The user's files are dup'ed: ours are closed once sent, the
		// caller keeps theirs.
		for i, f := range []*os.File{stdio.In, stdio.Out, stdio.Err} {
			if f == nil || (i == 0 && !c.Config.OpenStdin) {
				continue
			}
			fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 10)
			if err != nil {
				return fds, fmt.Errorf("passing stdio to init: %w", err)
			}
			fds.add(os.NewFile(uintptr(fd), f.Name()), containerinit.FdStdin+i)
		}
	}
	join, leave, err := cg.JoinFiles()
	if err != nil {
		return fds, err
	}
	if containerinit.FdJoin+len(join)+len(leave) > containerinit.FdExecListen {
		closeAll(append(join, leave...))
		return fds, fmt.Errorf("%d cgroup files to join and leave: more than the init has room for", len(join)+len(leave))
	}
	for i, f := range append(join, leave...) {
		fds.add(f, containerinit.FdJoin+i)
	}
	fds.join, fds.leave = len(join), len(leave)
	return fds, nil
}
