package runtime

// The init handshake. The parent starts the init in its new namespaces and
// talks to it over a socket pair passed as fd 3:
//
//	parent            -> puts the init's pid into the container's cgroup
//	parent -> init    bootstrap (JSON): id, config, which fds are attached
//	init              mounts, pivots, resolves user and command, starts the workload
//	init   -> parent  reply (JSON): the workload's pid, or an error and exit code
//	init              closes the socket; from here on it only supervises
//
// The parent sends the bootstrap only after the cgroup move, so nothing the
// workload does ever runs outside its limits.

// File descriptors the init is started with, besides 0-2 (/dev/null).
const (
	fdSync     = 3 // the socket pair
	fdStateDir = 4 // the container's directory, for exit.json after pivot_root
	fdLog      = 5 // the container's log file, opened for append
	fdOOM      = 6 // the cgroup file counting OOM kills; may be absent
	fdStdin    = 7 // the user's stdin when attached with -i
	fdStdout   = 8 // the user's stdout when attached
	fdStderr   = 9 // the user's stderr when attached
)

// initArg is os.Args[1] of a process that must run as a container's init.
const initArg = "__berth_init"

type bootstrap struct {
	ID       string `json:"id"`
	StateDir string `json:"stateDir"` // host path of the container's directory
	Config   Config `json:"config"`
	Attached bool   `json:"attached"` // fds 8 and 9 (and 7 with OpenStdin) are the user's
	HasOOM   bool   `json:"hasOOM"`   // fd 6 is open
}

type reply struct {
	Pid   int    `json:"pid,omitempty"` // the workload's pid inside the container
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"` // exit code the CLI should use for Error
}
