package containerinit

// The init handshake. The parent starts the init in its new namespaces with
// one end of a SOCK_SEQPACKET pair as fd 3, before it has even made the
// container's directory, so the init's start-up runs meanwhile:
//
//	parent            starts the init; creates the container and its cgroup
//	parent            puts the init's pid into the container's cgroup
//	parent -> init    Bootstrap (JSON) and, in the same message, the files
//	                  it names (SCM_RIGHTS); the init moves each to its Fds slot
//	init              mounts, pivots, resolves user and command, starts the workload
//	init   -> parent  Reply (JSON): the workload's pid, or an error and exit code
//	init              closes the socket; from here on it only supervises
//
// With Bootstrap.Shim the last two lines are the shim's (doc.go, "The
// shim"):
//
//	init              starts the workload behind its gate, execs berth-shim
//	shim              non-dumpable, catching signals; opens the gate
//	shim   -> parent  Reply: the workload's pid, or why its exec failed
//
// The parent sends the Bootstrap only after the cgroup move, so nothing the
// workload does ever runs outside its limits.

// MaxBootstrap is the largest Bootstrap message, in bytes: it must fit in
// the socket's send buffer in one piece.
const MaxBootstrap = 160 << 10

// File descriptors of the init: fd 3 from its start, the others moved
// there from the Bootstrap message (fd 2 becomes init.log).
const (
	FdSync = 3 // the socket pair, from the start
	// The rest are moved in from the Bootstrap message, to numbers well
	// above what the Go runtime takes for itself (its epoll and eventfd
	// get the lowest free ones, whenever it first needs them).
	FdStateDir = 100 // the container's directory, for exit.json after pivot_root
	FdLog      = 101 // the container's log file, opened for append
	FdOOM      = 102 // the cgroup file counting OOM kills; may be absent
	FdStdin    = 103 // the user's stdin when attached with -i
	FdStdout   = 104 // the user's stdout when attached
	FdStderr   = 105 // the user's stderr when attached
	// FdJoin is the first of Bootstrap.Join cgroup files the init writes
	// "0" into just before it forks the workload, and Bootstrap.Leave
	// more it writes "0" into just after: so the workload starts in the
	// container's groups and the init lives outside them.
	FdJoin = 106
)

// File descriptors of the shim hand-over (see doc.go, "The shim"). The
// sealed binaries come with the init's start, beside FdSync, when the
// runtime found berth-shim; the rest are where the init leaves them for the
// shim. cmd/berth-shim/shim.h has the same numbers (TestShimFdsMatch holds
// them together).
const (
	FdInitExe = 4 // the sealed init binary: the shim execs it as an exec helper
	FdShimExe = 5 // the sealed berth-shim binary

	FdExecListen     = 120 // the exec socket, listening
	FdCgroupNS       = 121 // the workload's cgroup namespace, which exec'd processes join
	FdExecSpec       = 122 // memfd: the Spec (user, env, working dir) an exec helper needs
	FdWorkloadStdin  = 123 // write end of the workload's stdin pipe
	FdWorkloadStdout = 124 // read end of its stdout pipe, or the pty master
	FdWorkloadStderr = 125 // read end of its stderr pipe
	FdGate           = 126 // one byte here lets the waiting workload exec
	FdGateErr        = 127 // the gate's errno when its exec failed, EOF when not
	FdExecConn       = 128 // in an exec helper: its one connection
	FdExecEnd        = 129 // in an exec helper: reads EOF when the container ends

	// The gate (the workload before its exec) has the shim binary, the
	// pipe it waits on and the one it reports a failed exec on.
	GateFdExe  = 3
	GateFdWait = 4
	GateFdErr  = 5
)

// The modes of berth-shim (os.Args[1]) and of an exec helper.
const (
	ShimSupervise = "supervise"
	ShimGate      = "gate"
	// ExecConnArg is os.Args[1] of the init binary run by the shim as the
	// exec server of one connection.
	ExecConnArg = "__berth_exec_conn"
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
	// Shim says the init was started with FdInitExe and FdShimExe: it
	// hands the running container over to berth-shim.
	Shim bool `json:"shim,omitempty"`
	// Fds says, for each file passed with this message, in order, the fd
	// number the init moves it to.
	Fds []int `json:"fds"`
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
	Rootfs string `json:"rootfs,omitempty"`
	// Lowers are the image's layers, bottom first: the init mounts an
	// overlay of them, with upper/ and work/ of the container's directory,
	// on its rootfs/ directory, inside the container's mount namespace.
	Lowers     []string `json:"lowers,omitempty"`
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
