package containerinit

// The exec protocol: one SOCK_SEQPACKET connection per process, on the
// socket ExecSocket in the container's directory (see doc.go). Every
// message is one JSON value in one packet, so no framing is needed and the
// files that go with a message arrive with it.
//
//	client -> init   ExecRequest        + the process's stdin, stdout, stderr (those it names)
//	init   -> client ExecReply{Pid}     + the pty master, with TTY       (or {Error, Code}: the end)
//	client -> init   ExecControl{...}   any number: signals for the process
//	init   -> client ExecReply{Exited}  the exit code: the end
//
// A client that hangs up before the last message takes the process with
// it: the init SIGKILLs its process group. A detached request ends after
// the first reply and the process runs on, reaped by the init.

// ExecSocket is the name of the init's exec socket in the container's
// directory.
const ExecSocket = "exec.sock"

// MaxExecRequest is the largest ExecRequest the init reads, in bytes.
const MaxExecRequest = 1 << 20

// ExecRequest asks the init to run one process in the container.
type ExecRequest struct {
	Args       []string `json:"args"`
	Env        []string `json:"env,omitempty"`        // added to the container's, KEY=VALUE
	User       string   `json:"user,omitempty"`       // "" is the container's user
	WorkingDir string   `json:"workingDir,omitempty"` // "" is the container's
	TTY        bool     `json:"tty,omitempty"`
	Detach     bool     `json:"detach,omitempty"`
	// Rows and Cols size the pty, with TTY; zero leaves the kernel's
	// default.
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
	// Stdin, Stdout and Stderr say which files came with the request, in
	// this order. A missing one is /dev/null. Ignored with TTY or Detach.
	Stdin  bool `json:"stdin,omitempty"`
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`
}

// ExecReply is the init's answer: the process started (Pid), could not
// start (Error, with Code as docker exec's: 126, 127, or 125), or ended
// (Exited, with ExitCode: 128+N for signal N).
type ExecReply struct {
	Pid      int    `json:"pid,omitempty"` // inside the container's PID namespace
	Error    string `json:"error,omitempty"`
	Code     int    `json:"code,omitempty"`
	Exited   bool   `json:"exited,omitempty"`
	ExitCode int    `json:"exitCode,omitempty"`
}

// ExecControl is a client's message while its process runs.
type ExecControl struct {
	Signal int `json:"signal"`
	// Group sends Signal to the process's whole process group (it leads
	// one, in a session of its own), as a client giving up does.
	Group bool `json:"group,omitempty"`
}
