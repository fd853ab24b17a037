// Package runtime runs one container at a time: it creates the namespaces and
// control group, starts berth's own init as the container's PID 1, and reads
// back what happened (state, exit status, logs).
//
// runtime is a leaf: it must not import any other package of berth. It knows
// nothing of stacks, services or images; it gets plain values (a rootfs
// path, resource limits, mounts) in a Config.
//
// Process model. The CLI (or, later, the engine) calls Manager.Run, or
// Manager.Create and Manager.Start. Run starts the init before it creates
// the container, so the init's own start-up (a Go runtime's) overlaps the
// container's directory and cgroup; the init gets its container later, in
// one message (containerinit/protocol.go). Start executes berth-init (package containerinit; berth
// itself when berth-init is not installed beside it) from a sealed,
// read-only view (see sealed.go) into fresh mount, PID, UTS, IPC and
// network namespaces; that process is the container's init. It finishes the
// set-up inside the namespaces, starts the workload as its child, and
// stays PID 1: it reaps zombies, forwards signals, writes the workload's
// output to the log file and records the exit status in the container's
// directory before it exits. So logs and exit codes never depend on the
// process that started the container still being alive.
//
// Decisions written down here:
//   - Networking is not the runtime's: with Config.NetNS set (a namespace
//     network.Attach made and bound), the init is forked from a thread that
//     joined that namespace, so the whole container is born inside it;
//     otherwise it gets a new one with loopback only. resolv.conf and hosts
//     are written at Create from Config.DNS* and Config.ExtraHosts.
//   - State lives in <root>/containers/<id>/: config.json (written once),
//     state.json (the init's pid and start time, written by the starter),
//     exit.json (written by the init), the log, init.log (the init's own
//     stderr) and the hostname, hosts and resolv.conf files bind-mounted
//     into the container. A container's state is worked out from these and
//     /proc on every read. Files of --rm containers skip fsync.
//   - The init is its own small static binary, opened through a detached,
//     read-only overlayfs mount (as runc >= 1.2 does) whose second layer is
//     a detached empty tmpfs, so every container shares the binary's page
//     cache and no container can write to it. Where the new mount API is
//     missing it falls back to a sealed memfd copy.
//   - Once the workload runs, the init hands over to berth-shim, a small C
//     program installed beside berth, sealed like the init, so that a
//     running container's PID 1 costs well under conmon's memory
//     (containerinit/doc.go, "The shim"). BERTH_NO_SHIM=1 in berth's
//     environment (NoShimEnv), a missing berth-shim or a dynamically
//     linked init keeps the Go init as the supervisor; the tests run both.
//   - The init stays out of the container's limits, as conmon stays out of
//     its container's: the user's limits count only the workload, a fork
//     bomb cannot starve the init of threads, and the container's OOM
//     killer cannot pick it. On v1 it sits in the /berth parent of the
//     memory and pids groups (and in the container's other groups), and
//     the workload is forked from a thread that joined those two. On v2,
//     where a process's threads share one group, it has a leaf of its own,
//     /berth/<id>.init, and steps into /berth/<id> just for the fork. The
//     cgroup namespace is entered after that step, so the workload sees
//     its groups as "/".
//   - Pause freezes the whole container through the cgroup freezer, the
//     init included, as Docker freezes its container's init: exec is
//     refused and health checks wait while paused, and kill, stop and rm
//     thaw the container after signalling it (pause.go).
//   - cgroups are written directly (cgroup_fs.go: mkdir, and one small write
//     per setting), not through github.com/containerd/cgroups, because
//     linking that library cost every berth process, `berth --help`
//     included, 2-3 ms of package initialisation (its protobuf stats
//     packages, google.golang.org/protobuf, and all of cilium/ebpf):
//     GODEBUG=inittrace=1 summed a median of 5.6-6.9 ms with it and
//     3.5-3.9 ms without, and `berth run` is benchmarked against crun. Of
//     cilium/ebpf only the asm package is left, to build the v2 device
//     filter (0.04 ms); loading and attaching the filter are two bpf(2)
//     calls, because its ebpf and link packages would add 1 ms back.
package runtime
