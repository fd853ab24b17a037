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
// The shim. A Go program that only waits still holds 0.6-0.9 MB of
// private memory (heap arena, runtime structures, several threads), and
// every container has one PID 1; conmon, podman's per-container monitor,
// holds under 0.5 MB. So once the workload runs, the Go init hands the
// container over to berth-shim (cmd/berth-shim), a small static C
// program, which is PID 1 from then on. Decisions:
//   - The runtime passes the shim only when berth-shim is installed beside
//     berth (as berth-init is), BERTH_NO_SHIM is not 1, and the init binary
//     is static (the shim runs it inside the container, see exec below).
//     It seals the shim as it seals the init (the same detached read-only
//     overlay) and starts the init with both binaries at FdInitExe and
//     FdShimExe; Bootstrap.Shim says so. Otherwise the Go init supervises,
//     as it always did.
//   - The Go init does everything up to "workload started" (mounts,
//     pivot_root, user, capabilities, cgroups, stdio, the exec socket),
//     then execs the shim (/proc/self/fd/FdShimExe) in its own place: PID 1
//     and its children survive execve. What the shim needs is at fixed fds
//     (protocol.go, the same numbers in cmd/berth-shim/shim.h) and in its
//     arguments (the workload's pid, the cgroup file counts, flags for
//     --rm, OOM file, TTY, attached, stdin); every other fd is
//     close-on-exec. Should the exec fail, the Go init supervises after all.
//   - execve makes a process dumpable again, until the shim's first
//     prctl(PR_SET_DUMPABLE, 0). No process of the container may run
//     meanwhile (/proc/1/fd holds the host's state directory): the workload
//     is forked, with all its settings, as the shim's gate mode, which
//     waits on a pipe for the shim's byte before it execs the command. The
//     shim, non-dumpable and catching signals, opens the gate, learns from a
//     second (close-on-exec) pipe whether the exec worked, and sends the
//     runtime the Reply: the pid, or the error and exit code execError
//     gives (126, 127). So the container counts as started only once the
//     shim supervises it.
//   - The shim does what supervise does, with the same results on disk:
//     signals through a signalfd (every one but SIGCHLD forwarded to the
//     workload, real-time ones included; SIGWINCH resizes the pty first;
//     a SIGPIPE of its own writes is dropped), reaping, the log in the same
//     json-file format byte for byte (json.Marshal's escaping, RFC 3339
//     nanosecond times, lines cut at 16 KiB of 8 KiB reads), copies to and
//     from the attached user, and at the end kill(-1), reaping, the last
//     output, exit.json as writeExitStatus writes it, the workload's exit
//     code. One thread and one poll loop: a user who stops reading holds up
//     that stream, as the Go init's copier does, but not signals.
//   - Exec. The shim does not speak the exec protocol. For each connection
//     it forks and execs the init binary (FdInitExe, kept open and
//     close-on-exec) as an exec helper (ExecConnArg) with the connection
//     at FdExecConn and only what forking needs: the cgroup files at
//     FdJoin, the workload's cgroup namespace (FdCgroupNS), the container's
//     user, env and directory (a sealed memfd, FdExecSpec) and FdExecEnd.
//     The helper serves that one connection with the exec server's code,
//     forking as the init does (its forking thread steps into the
//     container's groups, on v2 the helper itself steps in and out), and
//     is the parent and reaper of its process; a detached process is the
//     shim's to reap once the helper is gone. The helper is dumpable until
//     its package init, so it must hold nothing from the host's side: it
//     is exec'd as root with every capability, which a container process
//     (Docker's default set) cannot ptrace or read through /proc anyway.
//   - When the workload ends the shim closes the exec socket and the write
//     end of FdExecEnd: each helper kills its process's group, sends its
//     client the exit code (137) and exits; after they are gone (at most
//     a second) kill(-1) takes the rest, as before.
//   - A helper needs a static init binary: it is exec'd inside the
//     container, where a dynamically linked one would find no loader.
//     make builds it static; the runtime's tests build one for the shim.
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
