package containerinit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ExitStatus is how a container ended, as the init recorded it in
// exit.json just before it exited.
type ExitStatus struct {
	ExitCode   int       `json:"exitCode"`
	Signal     int       `json:"signal,omitempty"` // the signal that killed the workload
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}

const ExitFile = "exit.json"

// StopFile, in the container's directory, says berth asked the container
// to stop (runtime's MarkStopping writes it before the signal).
const StopFile = "stop-requested"

// commonSignals are the signals caught before the workload starts: SIGCHLD,
// and those a user sends (berth kill, berth stop) or a terminal raises.
// Go would exit on several of them if they were not caught.
var commonSignals = []os.Signal{
	unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGALRM, unix.SIGCONT,
	unix.SIGPWR, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
}

// notifySignals starts catching commonSignals, beside the mount set-up:
// Go enables each signal with a hand-off between two of its threads, tens
// of microseconds apiece here. ready closes when they are caught; the
// workload starts only after that.
func notifySignals() (sigs chan os.Signal, ready <-chan struct{}) {
	sigs = make(chan os.Signal, 128)
	done := make(chan struct{})
	go func() {
		signal.Notify(sigs, commonSignals...)
		close(done)
	}()
	return sigs, done
}

// notifyRest catches every other signal a process may be sent (real-time
// signals included: systemd, for one, stops on SIGRTMIN+3), once the
// container runs: off the start's critical path. Go ignores those signals
// until then; they cannot come from berth before the start returns.
func notifyRest(sigs chan os.Signal) {
	var rest []os.Signal
	for n := 1; n <= 64; n++ {
		s := unix.Signal(n)
		if s == unix.SIGKILL || s == unix.SIGSTOP || slices.Contains(commonSignals, os.Signal(s)) {
			continue
		}
		rest = append(rest, s)
	}
	signal.Notify(sigs, rest...)
}

// supervise is the init's life after the workload started: forward
// signals, reap zombies, and when the workload is gone, end the container
// and record why. It returns the init's own exit code, the workload's.
func supervise(b *Bootstrap, w *workload, sigs chan os.Signal) int {
	w.io.start()
	w.exec.serve()
	go notifyRest(sigs)
	shrink()
	ws, done := reap(w.pid, w.exec)
	for !done {
		sig := (<-sigs).(unix.Signal)
		if sig == unix.SIGCHLD {
			ws, done = reap(w.pid, w.exec)
		} else {
			forwardSignal(w, sig)
		}
	}
	// The container is its main process: once it is gone, so is everything
	// it left behind, exec'd processes too. kill(-1) from PID 1 reaches
	// the whole namespace; close first, so no exec forks after it.
	w.exec.close()
	_ = unix.Kill(-1, unix.SIGKILL)
	for {
		var st unix.WaitStatus
		if p, err := unix.Wait4(-1, &st, 0, nil); err == unix.ECHILD {
			break
		} else if err != nil && err != unix.EINTR {
			break
		} else if p > 0 {
			w.exec.exited(p, st)
		}
	}
	w.exec.drain(time.Second)
	w.io.wait()
	st := ExitStatus{FinishedAt: time.Now().UTC()}
	switch {
	case ws.Exited():
		st.ExitCode = ws.ExitStatus()
	case ws.Signaled():
		st.Signal = int(ws.Signal())
		st.ExitCode = 128 + st.Signal
	}
	if b.HasOOM {
		st.OOMKilled = oomKills(os.NewFile(FdOOM, "oom")) > 0
	}
	// An exit berth asked for (StopFile) is recorded without fsync: the
	// one who asked waits to read it at once and most often removes the
	// container next (berth-shim does the same).
	_, stopErr := os.Stat(fmt.Sprintf("/proc/self/fd/%d/%s", FdStateDir, StopFile))
	writeExitStatus(st, !b.Ephemeral && stopErr != nil)
	return st.ExitCode
}

// forwardSignal passes sig on to the workload, resizing its terminal
// first for SIGWINCH. SIGURG (the Go runtime's own preemption signal) and
// SIGPIPE are the init's, not the workload's.
func forwardSignal(w *workload, sig unix.Signal) {
	switch sig {
	case unix.SIGURG, unix.SIGPIPE:
	case unix.SIGWINCH:
		w.io.resize()
		_ = unix.Kill(w.pid, sig)
	default:
		_ = unix.Kill(w.pid, sig)
	}
}

// reap collects every exited child; done reports whether pid was one.
// The others' exits go to execs, for exec'd processes.
func reap(pid int, execs *execServer) (ws unix.WaitStatus, done bool) {
	for {
		var st unix.WaitStatus
		p, err := unix.Wait4(-1, &st, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if p <= 0 || err != nil {
			return ws, done
		}
		if p == pid {
			ws, done = st, true
		} else {
			execs.exited(p, st)
		}
	}
}

// oomKills reads the "oom_kill N" counter of the container's memory cgroup
// (memory.oom_control on v1, memory.events on v2).
func oomKills(f *os.File) int {
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if n == 0 && err != nil {
		return 0
	}
	return parseOOMKills(buf[:n])
}

func parseOOMKills(b []byte) int {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "oom_kill" {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// writeExitStatus stores st as exit.json through the directory fd the
// parent gave us: the host path is out of reach after pivot_root.
func writeExitStatus(st ExitStatus, durable bool) {
	data, err := json.Marshal(st)
	if err != nil {
		return
	}
	const tmp = ExitFile + ".tmp"
	fd, err := unix.Openat(FdStateDir, tmp, unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return
	}
	_, werr := unix.Write(fd, data)
	var serr error
	if durable {
		serr = unix.Fsync(fd)
	}
	unix.Close(fd)
	if werr != nil || serr != nil {
		return
	}
	_ = unix.Renameat(FdStateDir, tmp, FdStateDir, ExitFile)
}
