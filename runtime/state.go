package runtime

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/runtime/containerinit"
)

// Container statuses, as Docker names them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	// StatusPaused is a running container whose processes are frozen
	// (Pause): Running stays true, as in Docker.
	StatusPaused = "paused"
	StatusExited = "exited"
)

// State is what a container is doing now, worked out from its directory
// and the kernel on every read: never from what some process remembers.
type State struct {
	Status  string `json:"Status"`
	Running bool   `json:"Running"`
	// Paused is read from the container's freezer on every read: true
	// after Pause until Unpause (or a kill, stop or rm, which thaw).
	Paused     bool      `json:"Paused"`
	Pid        int       `json:"Pid"` // the init's pid on the host; 0 unless running
	ExitCode   int       `json:"ExitCode"`
	OOMKilled  bool      `json:"OOMKilled"`
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
	// StopRequested says someone stopped the container (Stop): an engine
	// restarting containers by policy leaves it be, as Docker does after
	// docker stop.
	StopRequested bool `json:"-"`
	// Health is the health check's state, for a running container that
	// has one.
	Health *Health `json:"Health,omitempty"`
}

// started is what the parent records (state.json) once the init reported
// the workload running. PidStart tells the init apart from a later process
// that got the same pid.
type started struct {
	Pid       int       `json:"pid"`
	PidStart  uint64    `json:"pidStart"`
	StartedAt time.Time `json:"startedAt"`
}

const (
	stateFile = "state.json"
	exitFile  = containerinit.ExitFile
	// stopFile marks a container Stop was asked to end.
	stopFile = containerinit.StopFile
)

// ExitStatus is how a container ended, as its init recorded it.
type ExitStatus = containerinit.ExitStatus

func readState(dir string) State {
	var s started
	if err := readJSON(filepath.Join(dir, stateFile), &s); err != nil {
		return State{Status: StatusCreated}
	}
	st := State{StartedAt: s.StartedAt}
	if _, err := os.Stat(filepath.Join(dir, stopFile)); err == nil {
		st.StopRequested = true
	}
	var ex ExitStatus
	if err := readJSON(filepath.Join(dir, exitFile), &ex); err == nil {
		st.Status = StatusExited
		st.ExitCode, st.OOMKilled, st.FinishedAt = ex.ExitCode, ex.OOMKilled, ex.FinishedAt
		return st
	}
	if alive(s.Pid, s.PidStart) {
		st.Status, st.Running, st.Pid = StatusRunning, true, s.Pid
		if cgroupFrozen(filepath.Base(dir)) {
			st.Status, st.Paused = StatusPaused, true
		}
		return st
	}
	// The init died without a word: it was SIGKILLed (or OOM-killed)
	// itself. Its exit.json may also be landing right now, so look again.
	if err := readJSON(filepath.Join(dir, exitFile), &ex); err == nil {
		st.Status = StatusExited
		st.ExitCode, st.OOMKilled, st.FinishedAt = ex.ExitCode, ex.OOMKilled, ex.FinishedAt
		return st
	}
	st.Status, st.ExitCode = StatusExited, 137
	st.Error = "berth's init was killed before it could record the exit status"
	return st
}

// alive reports whether pid is still the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	got, err := procStartTime(pid)
	return err == nil && got == start
}

// procStartTime is field 22 of /proc/PID/stat: when the process started,
// in clock ticks since boot. Zombies count as gone.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fs.ErrNotExist
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// hostsFile is a container's /etc/hosts, as Docker writes it: localhost,
// then the extra lines (docker run --add-host NAME:IP, or NAME=IP).
func hostsFile(extra []string) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n" +
		"ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, h := range extra {
		name, ip, _ := splitExtraHost(h)
		b.WriteString(ip + "\t" + name + "\n")
	}
	return b.String()
}

// splitExtraHost splits "NAME:IP" or "NAME=IP" at the first separator,
// so an IPv6 address keeps its colons.
func splitExtraHost(h string) (name, ip string, ok bool) {
	if name, ip, ok = strings.Cut(h, "="); ok {
		return name, ip, true
	}
	return strings.Cut(h, ":")
}

// resolvConf is the container's resolv.conf. Without nameservers of its
// own it copies the host's, leaving out nameservers on loopback: inside
// the container they would be its own. search and options replace the
// host's lines when given.
func resolvConf(hostPath string, nameservers, search, options []string) string {
	b, err := os.ReadFile(hostPath)
	if err != nil {
		b = nil
	}
	var out strings.Builder
	for _, ns := range nameservers {
		out.WriteString("nameserver " + ns + "\n")
	}
	if len(search) > 0 {
		out.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(options) > 0 {
		out.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "nameserver" && (len(nameservers) > 0 || len(f) >= 2 && (strings.HasPrefix(f[1], "127.") || f[1] == "::1")):
			continue
		case (f[0] == "search" || f[0] == "domain") && len(search) > 0,
			f[0] == "options" && len(options) > 0:
			continue
		}
		out.WriteString(line + "\n")
	}
	return out.String()
}
