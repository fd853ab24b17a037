package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// v1Required are the v1 hierarchies every container joins. cpuset is left
// out: berth pins no CPUs or memory nodes, and a new cpuset group is unusable
// until cpus and mems are copied down into it. name=systemd belongs to
// systemd.
var v1Required = []string{"memory", "cpu", "cpuacct", "pids", "devices", "freezer"}

// v1Optional are joined where mounted: blkio accounts the container's I/O.
var v1Optional = []string{"blkio"}

// cgroupV1 is a container's group on a v1 or hybrid host: the directory
// /berth/<id> in each hierarchy of v1Host.
type cgroupV1 struct {
	path string // /berth/<id>
	host v1Host
}

// v1Host is what a v1 host offers berth, read fresh for every group.
type v1Host struct {
	// dirs are the mount points of the hierarchies joined, each once.
	dirs []string
	// memory, cpu, pids and devices are the mount points of the
	// hierarchies of those controllers, which berth writes settings to.
	memory, cpu, pids, devices string
	// freezer is the mount point of the freezer hierarchy (pause).
	freezer string
	// memsw tells whether the kernel accounts swap per group (swapaccount=1),
	// so memory.memsw.limit_in_bytes can cap memory plus swap.
	memsw bool
}

// probeV1 finds the hierarchies of v1Required and v1Optional under root. A
// hierarchy co-mounted with an earlier one (cpu,cpuacct behind two symlinks)
// is joined once.
func probeV1(root string) (v1Host, error) {
	var h v1Host
	var seen []uint64 // device numbers: one per mounted hierarchy
	for _, name := range slices.Concat(v1Required, v1Optional) {
		dir := filepath.Join(root, name)
		var fsStat unix.Statfs_t
		err := unix.Statfs(dir, &fsStat)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return v1Host{}, fmt.Errorf("reading file system type of %s: %w", dir, err)
		}
		if err != nil || fsStat.Type != unix.CGROUP_SUPER_MAGIC {
			if slices.Contains(v1Required, name) {
				return v1Host{}, missingV1Controller(name, dir)
			}
			continue
		}
		switch name {
		case "memory":
			h.memory = dir
		case "cpu":
			h.cpu = dir
		case "pids":
			h.pids = dir
		case "devices":
			h.devices = dir
		case "freezer":
			h.freezer = dir
		}
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return v1Host{}, fmt.Errorf("reading %s: %w", dir, err)
		}
		if slices.Contains(seen, st.Dev) {
			continue
		}
		seen = append(seen, st.Dev)
		h.dirs = append(h.dirs, dir)
	}
	h.memsw = cgroupFileExists(filepath.Join(h.memory, "memory.memsw.limit_in_bytes"))
	return h, nil
}

func missingV1Controller(name, dir string) error {
	return &CgroupUnavailableError{
		Missing: fmt.Sprintf("the cgroup v1 %s controller", name),
		Path:    dir,
		Fix: fmt.Sprintf("mount it (mkdir -p %[2]s && mount -t cgroup -o %[1]s cgroup %[2]s), "+
			"or, if /proc/cgroups shows it disabled, boot with cgroup_enable=%[1]s", name, dir),
	}
}

// v1Settings are the settings for one v1 hierarchy.
type v1Settings struct {
	hierarchy string // its mount point
	settings  []cgroupSetting
}

// v1Resources translates r for the v1 hierarchies of h. Device rules are
// not among them: see writeV1Devices.
func v1Resources(r Resources, h v1Host) ([]v1Settings, error) {
	mem, err := memoryLimitsFor(r)
	if err != nil {
		return nil, err
	}
	cpu, err := cpuV1(r)
	if err != nil {
		return nil, err
	}
	return []v1Settings{
		{h.memory, mem.v1(h.memsw)},
		{h.cpu, cpu},
		{h.pids, pidsSettings(r)},
	}, nil
}

// newCgroupV1 creates /berth/<id> in the v1 hierarchies under root and
// applies r.
func newCgroupV1(root, id string, r Resources) (*cgroupV1, error) {
	path := groupPath(id)
	h, err := probeV1(root)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	res, err := v1Resources(r, h)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	c := &cgroupV1{path: path, host: h}
	err = retryCgroupCreate(func() error { return c.create(res) })
	if err == nil {
		err = writeV1Devices(filepath.Join(h.devices, path), defaultDevices())
	}
	if err != nil {
		// Take back the groups made before the one that failed.
		_ = c.Delete()
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	return c, nil
}

// create makes the group in every hierarchy and writes res.
func (c *cgroupV1) create(res []v1Settings) error {
	for _, dir := range c.host.dirs {
		if err := makeCgroupDir(filepath.Join(dir, c.path)); err != nil {
			return err
		}
	}
	for _, s := range res {
		if err := writeCgroupSettings(filepath.Join(s.hierarchy, c.path), s.settings); err != nil {
			return err
		}
	}
	return nil
}

// loadCgroupV1 returns the group of container id under root. It need not
// exist: Delete on a missing group only tidies up.
func loadCgroupV1(root, id string) (*cgroupV1, error) {
	path := groupPath(id)
	h, err := probeV1(root)
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", path, err)
	}
	return &cgroupV1{path: path, host: h}, nil
}

// AddProc moves pid into the group in every hierarchy.
func (c *cgroupV1) AddProc(pid int) error {
	for _, dir := range c.host.dirs {
		if err := addCgroupProc(filepath.Join(dir, c.path), pid); err != nil {
			return fmt.Errorf("adding pid %d to cgroup %s: %w", pid, c.path, err)
		}
	}
	return nil
}

// Procs lists the processes in the group and below it, as the memory
// hierarchy sees them. A group that is gone has none.
func (c *cgroupV1) AddInit(pid int) error {
	for _, dir := range c.host.dirs {
		group := filepath.Join(dir, c.path)
		if c.initStaysOut(dir) {
			// The parent, /berth, has no limits; it takes the init out
			// of whatever group the CLI ran in (a login session's, say,
			// which may be torn down while the container runs on).
			group = filepath.Dir(group)
		}
		if err := addCgroupProc(group, pid); err != nil {
			return fmt.Errorf("adding pid %d to cgroup %s: %w", pid, c.path, err)
		}
	}
	return nil
}

func (c *cgroupV1) JoinFiles() (join, leave []*os.File, err error) {
	var tasks []*os.File
	for _, dir := range c.host.dirs {
		if !c.initStaysOut(dir) {
			continue
		}
		p := filepath.Join(dir, c.path, "tasks")
		f, err := os.OpenFile(p, os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(tasks)
			return nil, nil, fmt.Errorf("opening %s: %w", p, err)
		}
		tasks = append(tasks, f)
	}
	return tasks, nil, nil
}

// initStaysOut tells the hierarchies the init does not join: memory and
// pids (see cgroup.AddInit).
func (c *cgroupV1) initStaysOut(dir string) bool {
	return sameHierarchy(dir, c.host.memory) || sameHierarchy(dir, c.host.pids)
}

// sameHierarchy tells whether two mount points are one v1 hierarchy
// (co-mounted controllers show up under several names).
func sameHierarchy(a, b string) bool {
	if a == b {
		return true
	}
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev
}

func (c *cgroupV1) Procs() ([]int, error) {
	pids, err := readCgroupProcs(filepath.Join(c.host.memory, c.path))
	if err != nil {
		return nil, fmt.Errorf("listing processes of cgroup %s: %w", c.path, err)
	}
	return pids, nil
}

// OOMEventsPath is the group's memory.oom_control; its "oom_kill N" line
// needs Linux >= 4.13.
func (c *cgroupV1) OOMEventsPath() string {
	return filepath.Join(c.host.memory, c.path, "memory.oom_control")
}

// Delete removes the group from every hierarchy, then the "berth" parents
// that no other group uses.
func (c *cgroupV1) Delete() error {
	var first error
	for _, dir := range c.host.dirs {
		if err := removeCgroupDir(filepath.Join(dir, c.path)); err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("deleting cgroup %s: %w", c.path, first)
	}
	if err := removeCgroupParents(c.host.dirs); err != nil {
		return fmt.Errorf("deleting cgroup %s: %w", c.path, err)
	}
	return nil
}
