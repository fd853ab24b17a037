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
	// it. JoinFiles are the "tasks" files of those groups: the init moves
	// the thread that forks the workload into them, so the workload starts
	// inside every group.
	AddInit(pid int) error
	JoinFiles() ([]*os.File, error)
	// Procs lists the pids in the group, host view.
	Procs() ([]int, error)
	// OOMEventsPath is the file whose "oom_kill N" line counts OOM kills in
	// the group: memory.oom_control on v1, memory.events on v2.
	OOMEventsPath() string
	// Delete removes the group. The processes in it must have exited;
	// deleting a group that is already gone succeeds.
	Delete() error
}
