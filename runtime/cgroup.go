package runtime

// cgroup is one container's control group, on whichever hierarchy the host
// runs (v1, hybrid or unified v2). cgroup_v1.go and cgroup_v2.go implement it
// on the cgroup file system directly (cgroup_fs.go); see doc.go for why not
// through a library.
type cgroup interface {
	// AddProc moves pid into the group (every v1 hierarchy it spans).
	AddProc(pid int) error
	// Procs lists the pids in the group, host view.
	Procs() ([]int, error)
	// OOMEventsPath is the file whose "oom_kill N" line counts OOM kills in
	// the group: memory.oom_control on v1, memory.events on v2.
	OOMEventsPath() string
	// Delete removes the group. The processes in it must have exited;
	// deleting a group that is already gone succeeds.
	Delete() error
}
