package containerinit

// The init handshake. The parent starts the init in its new namespaces and
// talks to it over a socket pair passed as fd 3:
//
//	parent            -> puts the init's pid into the container's cgroup
//	parent -> init    Bootstrap (JSON): id, config, which fds are attached
//	init              mounts, pivots, resolves user and command, starts the workload
//	init   -> parent  reply (JSON): the workload's pid, or an error and exit code
//	init              closes the socket; from here on it only supervises
//
// The parent sends the Bootstrap only after the cgroup move, so nothing the
// workload does ever runs outside its limits.

// File descriptors the init is started with, besides 0-2 (/dev/null).
// The parent passes them as exec.Cmd.ExtraFiles, in this order.
const (
	FdSync     = 3 // the socket pair
	FdStateDir = 4 // the container's directory, for exit.json after pivot_root
	FdLog      = 5 // the container's log file, opened for append
	FdOOM      = 6 // the cgroup file counting OOM kills; may be absent
	FdStdin    = 7 // the user's stdin when attached with -i
	FdStdout   = 8 // the user's stdout when attached
	FdStderr   = 9 // the user's stderr when attached
	// FdJoin is the first of Bootstrap.Join cgroup files the init writes
	// "0" into just before it forks the workload, and Bootstrap.Leave
	// more it writes "0" into just after: so the workload starts in the
	// container's groups and the init lives outside them.
	FdJoin = 10
)

// Arg is os.Args[1] of a process that must run as a container's init.
const Arg = "__berth_init"

// Bootstrap is what the parent sends the init.
type Bootstrap struct {
	ID       string `json:"id"`
	StateDir string `json:"stateDir"` // host path of the container's directory
	Spec     Spec   `json:"spec"`
	Attached bool   `json:"attached"`        // fds 8 and 9 (and 7 with OpenStdin) are the user's
	HasOOM   bool   `json:"hasOOM"`          // fd 6 is open
	Join     int    `json:"join,omitempty"`  // fds FdJoin... move the forking thread (or process) in
	Leave    int    `json:"leave,omitempty"` // the fds after those move the init back out
	// Ephemeral containers (--rm) skip fsync of their state files: after
	// a crash nobody wants them back, and the next run cleans them up.
	Ephemeral bool `json:"ephemeral,omitempty"`
}

// Reply is the init's answer: the workload started, or why not.
type Reply struct {
	Pid   int    `json:"pid,omitempty"` // the workload's pid inside the container
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"` // exit code the CLI should use for Error
}

// Spec is what the init needs to know of the container: the runtime
// translates its Config into this.
type Spec struct {
	Rootfs     string   `json:"rootfs"`
	Args       []string `json:"args"`
	Env        []string `json:"env,omitempty"`
	User       string   `json:"user,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	Hostname   string   `json:"hostname,omitempty"`
	Domainname string   `json:"domainname,omitempty"`
	TTY        bool     `json:"tty,omitempty"`
	OpenStdin  bool     `json:"openStdin,omitempty"`
	ReadOnly   bool     `json:"readOnly,omitempty"`
	Mounts     []Mount  `json:"mounts,omitempty"`
}

// Mount is a bind mount or a tmpfs inside the container.
type Mount struct {
	Type        string   `json:"type"` // "bind" or "tmpfs"
	Source      string   `json:"source,omitempty"`
	Destination string   `json:"destination"`
	ReadOnly    bool     `json:"readOnly,omitempty"`
	Options     []string `json:"options,omitempty"` // tmpfs: size=64m, mode=1777, ...
}
