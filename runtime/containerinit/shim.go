package containerinit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// gate holds the workload between its fork and its exec while the init
// hands over to berth-shim: the workload is forked as the shim's gate
// mode, which waits for a byte on its pipe and then execs the command.
// No process of the container runs until the shim, non-dumpable, lets it.
type gate struct {
	name    string   // the command as the user gave it, for errors
	release *os.File // a byte here lets the workload exec
	result  *os.File // its errno if the exec failed; EOF if it worked
	// The child's ends, closed once it is forked.
	wait, report *os.File
}

func newGate(name string) (*gate, error) {
	g := &gate{name: name}
	var err error
	if g.wait, g.release, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("creating the workload's gate: %w", err)
	}
	if g.result, g.report, err = os.Pipe(); err != nil {
		g.close()
		return nil, fmt.Errorf("creating the workload's gate: %w", err)
	}
	return g, nil
}

// command is what forkWorkload execs instead of argv0: berth-shim's gate,
// given argv0 and argv to exec, with the shim binary and the gate's pipes
// after the workload's stdio.
func (g *gate) command(argv0 string, argv []string, stdio []uintptr) (string, []string, []uintptr) {
	files := append(append([]uintptr(nil), stdio...), FdShimExe, uintptr(rawFd(g.wait)), uintptr(rawFd(g.report)))
	args := append([]string{"berth-shim", ShimGate, argv0}, argv...)
	return "/proc/self/fd/" + strconv.Itoa(GateFdExe), args, files
}

// closeChildEnds closes the init's copies of the gate's ends, once the
// workload is forked.
func (g *gate) closeChildEnds() {
	if g == nil {
		return
	}
	closeFiles([]*os.File{g.wait, g.report})
	g.wait, g.report = nil, nil
}

func (g *gate) close() {
	if g == nil {
		return
	}
	g.closeChildEnds()
	closeFiles([]*os.File{g.release, g.result})
}

// open lets the workload exec, as the shim would have, and says whether
// the exec worked: the Go init's own way on when the shim cannot run.
func (g *gate) open() error {
	defer g.close()
	if _, err := g.release.Write([]byte{1}); err != nil {
		return &initError{ExitSetupFailed, fmt.Errorf("starting %q: %w", g.name, err)}
	}
	var b [4]byte
	if n, _ := io.ReadFull(g.result, b[:]); n == len(b) {
		errno := syscall.Errno(int32(b[0]) | int32(b[1])<<8 | int32(b[2])<<16 | int32(b[3])<<24)
		return execError(g.name, errno)
	}
	return nil
}

// handOver replaces the init with berth-shim, which supervises the
// container from here on (see doc.go, "The shim"). Everything the shim
// needs is left at its fd (protocol.go) and named in its arguments; all
// else is close-on-exec. It returns only when the exec failed, with every
// fd it made closed again.
//
// Preconditions: on the main thread, the leader, which never joined the
// container's memory or pids group; the workload waits at its gate; the
// init neither copies output nor serves exec yet.
func handOver(b *Bootstrap, w *workload, sigs chan os.Signal) error {
	forwardCaught(sigs, w)
	spec, err := execSpecFile(&b.Spec)
	if err != nil {
		return err
	}
	defer spec.Close()
	moves := [][2]int{
		{rawFd(spec), FdExecSpec},
		{rawFd(w.exec.ln), FdExecListen},
		{workloadCgroupNS, FdCgroupNS},
		{rawFd(w.gate.release), FdGate},
		{rawFd(w.gate.result), FdGateErr},
	}
	if w.io.master != nil {
		moves = append(moves, [2]int{rawFd(w.io.master), FdWorkloadStdout})
	} else {
		moves = append(moves, [2]int{rawFd(w.io.outR), FdWorkloadStdout}, [2]int{rawFd(w.io.errR), FdWorkloadStderr})
		if w.io.stdinW != nil {
			moves = append(moves, [2]int{rawFd(w.io.stdinW), FdWorkloadStdin})
		}
	}
	keep := []int{FdSync, FdInitExe, FdStateDir, FdLog}
	var made []int
	defer func() {
		for _, fd := range made {
			unix.Close(fd)
		}
	}()
	for _, m := range moves {
		if m[0] < 0 {
			return fmt.Errorf("handing over to berth-shim: fd for %d missing", m[1])
		}
		if m[0] == m[1] {
			keep = append(keep, m[1])
			continue
		}
		if err := unix.Dup3(m[0], m[1], 0); err != nil {
			return fmt.Errorf("handing over to berth-shim: %w", err)
		}
		made = append(made, m[1])
	}
	if b.HasOOM {
		keep = append(keep, FdOOM)
	}
	for fd := FdJoin; fd < FdJoin+b.Join+b.Leave; fd++ {
		keep = append(keep, fd)
	}
	for _, fd := range keep {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("handing fd %d over to berth-shim: %w", fd, err)
		}
	}
	if b.Attached {
		// The user's files, as far as they were given: one the runtime
		// did not pass is one the shim writes to in vain, as the Go init
		// would.
		for _, fd := range []int{FdStdin, FdStdout, FdStderr} {
			if fd != FdStdin || w.io.userIn != nil {
				if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err == nil {
					keep = append(keep, fd)
				}
			}
		}
	}
	err = unix.Exec("/proc/self/fd/"+strconv.Itoa(FdShimExe), shimArgs(b, w), []string{})
	for _, fd := range keep {
		unix.CloseOnExec(fd)
	}
	return fmt.Errorf("executing berth-shim: %w", err)
}

// shimArgs is the shim's command line (see cmd/berth-shim/main.c).
func shimArgs(b *Bootstrap, w *workload) []string {
	args := []string{"berth-shim", ShimSupervise,
		"-p", strconv.Itoa(w.pid), "-j", strconv.Itoa(b.Join), "-l", strconv.Itoa(b.Leave),
		"-n", strconv.Quote(w.gate.name)}
	flags := ""
	for _, f := range []struct {
		on bool
		c  string
	}{
		{b.Ephemeral, "e"}, {b.HasOOM, "o"}, {b.Spec.TTY, "t"}, {b.Attached, "a"},
		{w.io.userIn != nil, "i"}, {w.io.stdinW != nil, "s"},
	} {
		if f.on {
			flags += f.c
		}
	}
	if flags != "" {
		args = append(args, "-"+flags)
	}
	return args
}

// forwardCaught passes on the signals caught before the hand-over: the
// shim starts with none.
func forwardCaught(sigs chan os.Signal, w *workload) {
	for {
		select {
		case s := <-sigs:
			if sig := s.(unix.Signal); sig != unix.SIGCHLD {
				forwardSignal(w, sig) // the shim reaps what exited meanwhile
			}
		default:
			return
		}
	}
}

// execSpecFile is what exec helpers need of the container's Spec, in a
// sealed memfd that the shim keeps for them.
func execSpecFile(c *Spec) (*os.File, error) {
	data, err := json.Marshal(Spec{User: c.User, Env: c.Env, WorkingDir: c.WorkingDir})
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("berth-exec-spec", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd for exec helpers: %w", err)
	}
	f := os.NewFile(uintptr(fd), "exec-spec")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the spec for exec helpers: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the spec for exec helpers: %w", err)
	}
	return f, nil
}

// readExecSpec reads an exec helper's Spec from FdExecSpec.
func readExecSpec() (*Spec, error) {
	f := os.NewFile(FdExecSpec, "exec-spec")
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("reading the container's spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading the container's spec: %w", err)
	}
	return &s, nil
}

// rawFd is f's descriptor without f.Fd()'s side effect of making it
// blocking for good: the shim gets these files as the Go init has them.
func rawFd(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1
	}
	return fd
}
