package containerinit

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"

	"golang.org/x/sys/unix"
)

// runExecConn is the life of an exec helper: the init binary, run by
// berth-shim for one connection to the exec socket (see doc.go, "The
// shim"). It serves that connection as the init's exec server serves
// each of its own, and is the parent and reaper of the process it starts.
// It gets the connection (FdExecConn), the cgroup files and namespace the
// fork steps into, the container's Spec and FdExecEnd; nothing else.
func runExecConn() int {
	_ = os.WriteFile("/proc/self/comm", []byte("berth-exec"), 0)
	conn := os.NewFile(FdExecConn, "exec")
	s, err := newHelperServer(os.Args[2:])
	if err != nil {
		_ = sendExecReply(conn, ExecReply{Error: fmt.Sprintf("berth's exec helper: %v", err), Code: ExitSetupFailed}, nil)
		return ExitSetupFailed
	}
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	go func() {
		for range chld {
			s.reapChildren()
		}
	}()
	go func() {
		// The shim closes the other end when the workload has ended.
		var b [1]byte
		for {
			if _, err := unix.Read(FdExecEnd, b[:]); err != unix.EINTR {
				break
			}
		}
		s.shutdown()
	}()
	s.handle(conn)
	return 0
}

// newHelperServer is the exec server of a helper, from its arguments
// (the number of join and leave cgroup files) and FdExecSpec.
func newHelperServer(args []string) (*execServer, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("want 2 arguments, got %d", len(args))
	}
	join, err1 := strconv.Atoi(args[0])
	leave, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bad arguments %q", args)
	}
	spec, err := readExecSpec()
	if err != nil {
		return nil, err
	}
	workloadCgroupNS = FdCgroupNS
	return &execServer{spec: spec, join: join, leave: leave, waiting: map[int]chan unix.WaitStatus{}}, nil
}

// reapChildren collects the helper's exited children: its process, and
// whatever that left to it. A helper has no workload: reap's pid 0 is no
// child's, so every exit goes to the exec server.
func (s *execServer) reapChildren() { reap(0, s) }

// shutdown ends a helper's service when the container ends: no fork after
// it, and its attached process is killed, so that its client gets the exit
// code (137) before the shim kills what is left of the container.
func (s *execServer) shutdown() {
	s.mu.Lock()
	s.closed = true
	pids := make([]int, 0, len(s.waiting))
	for pid := range s.waiting {
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	for _, pid := range pids {
		s.signal(pid, unix.SIGKILL, true)
	}
}
