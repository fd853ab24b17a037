package runtime

import "os"

// cgroup is one container's control group, on whichever hierarchy the host
// runs (v1, hybrid or unified v2). cgroup_v1.go and cgroup_v2.go implement it
// on the cgroup file system directly (cgroup_fs.go); see doc.go for why not
// through a library.
type cgroup interface {
	// AddProc moves pid into the group (every v1 hierarchy it spans).
	AddProc(pid int) error
	// AddInit places a container's init. Where the host allows it (v1),
	// the init stays out of the memory and pids groups, as conmon stays
	// out of its container's: its threads must not use up the container's
	// pids.max (a Go process needs new threads at unforeseen moments, and
	// dies if it cannot get one), nor may the container's OOM killer pick
	// it. On v2, where a process's threads share one group, the init has
	// a leaf of its own beside the container's group.
	AddInit(pid int) error
	// JoinFiles are files the init writes "0" into to move the workload's
	// future parent into the container's groups just before the fork
	// (join: v1 "tasks" files move the forking thread, v2 "cgroup.procs"
	// the whole init), and back out just after (leave: v2 only; on v1 the
	// forking thread ends with the fork).
	JoinFiles() (join, leave []*os.File, err error)
	// Procs lists the pids in the group, host view.
	Procs() ([]int, error)
	// OOMEventsPath is the file whose "oom_kill N" line counts OOM kills in
	// the group: memory.oom_control on v1, memory.events on v2.
	OOMEventsPath() string
	// Freeze stops every process of the container, the init included,
	// and returns once all of them have stopped (pause).
	Freeze() error
	// Thaw lets them run again (unpause). Thawing a group that is not
	// frozen, or is gone, succeeds.
	Thaw() error
	// Delete removes the group. The processes in it must have exited;
	// deleting a group that is already gone succeeds.
	Delete() error
}
