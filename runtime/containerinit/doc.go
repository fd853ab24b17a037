// Package containerinit is the program that runs as PID 1 of every berth
// container. It is built into its own small binary, berth-init (so a
// container start pays only for the init's own start-up, not for all of
// berth's packages), and into berth itself as a fallback.
//
// It finishes the container inside its new namespaces (mounts, pivot_root,
// hostname, loopback), starts the workload with its user, capabilities and
// environment, and then supervises it: forwards signals, reaps zombies,
// writes the output to the log file (and to an attached terminal), and
// records the exit status before it exits with the workload's code.
//
// It talks to its parent (package runtime) only through the handshake in
// protocol.go. It imports nothing of berth: runtime imports it for the
// wire types.
//
// Exec. The init also runs processes in its running container for
// `berth exec` (runtime's Manager.Exec), so exec, like logs and exit
// codes, needs no engine. Decisions:
//   - The socket is ExecSocket (exec.sock, mode 0600) in the container's
//     directory, bound before the workload starts and unlinked when it
//     ends. The init binds it as /proc/self/fd/100/exec.sock (FdStateDir):
//     always short enough for sun_path (108 bytes), where a state
//     directory's own path may not be (root/containers/ID/exec.sock
//     passes it with a root of 22 characters), and reachable after
//     pivot_root. Clients connect by the
//     plain path when it fits, else through an O_PATH fd of the directory
//     the same way. No abstract socket: those belong to a network
//     namespace, and the container's is one a process inside can use.
//     Nothing inside reaches the socket: the directory is outside the
//     container's root, the init's fds are close-on-exec, and /proc/1/fd
//     cannot be followed (the init is not dumpable).
//   - One SOCK_SEQPACKET connection per process; the exchange is drawn in
//     execproto.go. The client sends the process's stdin, stdout and
//     stderr as fds (SCM_RIGHTS): the ends of pipes it copies from and
//     to, never its own files, so a host terminal never gets into the
//     container (TIOCSTI). With a TTY the init opens the pty itself, in the
//     container's devpts (so `tty` names /dev/pts/N inside), and hands the
//     master back; the client copies, and resizes it with TIOCSWINSZ.
//   - The process is forked as the workload is, from a locked thread that
//     dies afterwards: into the workload's memory and pids groups (v1) or
//     the container's group (v2: the whole init steps in and out under a
//     lock, one fork at a time), into the workload's cgroup namespace, with
//     the capability bounding set, no_new_privs, the user (the exec's or
//     the container's), the container's environment plus the exec's, and
//     workloadEnv's rules. So exec'd processes count against pids.max and
//     memory, as Docker's do. It gets its own session (setsid), with the
//     pty as its controlling terminal.
//   - The init stays the only reaper: reap hands exits other than the
//     workload's to the exec server, which registers a pid under the same
//     lock it forks under, so no exit goes unclaimed. A client that hangs
//     up (a cancelled context) gets its process group SIGKILLed; a
//     detached process runs on with /dev/null as stdio.
//   - The workload's exit ends the container as before: the server closes
//     (no fork after that), kill(-1) takes the exec'd processes too, their
//     clients get 137, and the init waits up to a second for those replies
//     to go out before it exits.
package containerinit
