package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Required are the v1 hierarchies every container joins. cpuset is left
// out: berth pins no CPUs or memory nodes, and a new cpuset group is unusable
// until cpus and mems are copied down into it. name=systemd belongs to
// systemd.
var v1Required = []cgroup1.Name{
	cgroup1.Memory, cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Pids, cgroup1.Devices, cgroup1.Freezer,
}

// v1Optional are joined where mounted: blkio accounts the container's I/O.
var v1Optional = []cgroup1.Name{cgroup1.Blkio}

// cgroupV1 is a container's group on a v1 or hybrid host: the directory
// /berth/<id> in each hierarchy of v1Host.
type cgroupV1 struct {
	cg   cgroup1.Cgroup // nil when loaded but missing
	path string         // /berth/<id>
	host v1Host
}

// v1Host is what a v1 host offers berth, read fresh for every group.
type v1Host struct {
	subsystems []cgroup1.Subsystem
	// dirs are the mount points of the hierarchies joined, each once.
	dirs []string
	// memory and devices are the mount points of those controllers'
	// hierarchies, which berth writes to itself.
	memory, devices string
	// memsw tells whether the kernel accounts swap per group (swapaccount=1),
	// so memory.memsw.limit_in_bytes can cap memory plus swap.
	memsw bool
}

// hierarchy hands the controllers found to the library, which otherwise
// joins every mounted hierarchy, name=systemd and cpuset included.
func (h v1Host) hierarchy() ([]cgroup1.Subsystem, error) { return h.subsystems, nil }

// probeV1 finds the hierarchies of v1Required and v1Optional under root. A
// hierarchy co-mounted with an earlier one (cpu,cpuacct behind two symlinks)
// is joined once.
func probeV1(root string) (v1Host, error) {
	var h v1Host
	var seen []uint64 // device numbers: one per mounted hierarchy
	for _, name := range slices.Concat(v1Required, v1Optional) {
		dir := filepath.Join(root, string(name))
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
		case cgroup1.Memory:
			h.memory = dir
		case cgroup1.Devices:
			h.devices = dir
		}
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return v1Host{}, fmt.Errorf("reading %s: %w", dir, err)
		}
		if slices.Contains(seen, st.Dev) {
			continue
		}
		seen = append(seen, st.Dev)
		h.subsystems = append(h.subsystems, v1Subsystem(root, name))
		h.dirs = append(h.dirs, dir)
	}
	h.memsw = cgroupFileExists(filepath.Join(h.memory, "memory.memsw.limit_in_bytes"))
	return h, nil
}

func missingV1Controller(name cgroup1.Name, dir string) error {
	return &CgroupUnavailableError{
		Missing: fmt.Sprintf("the cgroup v1 %s controller", name),
		Path:    dir,
		Fix: fmt.Sprintf("mount it (mkdir -p %[2]s && mount -t cgroup -o %[1]s cgroup %[2]s), "+
			"or, if /proc/cgroups shows it disabled, boot with cgroup_enable=%[1]s", name, dir),
	}
}

func v1Subsystem(root string, name cgroup1.Name) cgroup1.Subsystem {
	switch name {
	case cgroup1.Memory:
		return cgroup1.NewMemory(root)
	case cgroup1.Cpu:
		return cgroup1.NewCpu(root)
	case cgroup1.Cpuacct:
		return cgroup1.NewCpuacct(root)
	case cgroup1.Pids:
		return cgroup1.NewPids(root)
	case cgroup1.Devices:
		return cgroup1.NewDevices(root)
	case cgroup1.Freezer:
		return cgroup1.NewFreezer(root)
	case cgroup1.Blkio:
		return cgroup1.NewBlkio(root)
	}
	panic("runtime: no v1 controller " + string(name))
}

// v1Resources translates r for the v1 controllers; memsw as in v1Host.
// Device rules are not among them: see writeV1Devices.
func v1Resources(r Resources, memsw bool) (*specs.LinuxResources, error) {
	mem, err := memoryLimitsFor(r)
	if err != nil {
		return nil, err
	}
	cpu, err := cpuV1(r)
	if err != nil {
		return nil, err
	}
	return &specs.LinuxResources{
		Memory: mem.v1(memsw),
		CPU:    cpu,
		Pids:   pidsV1(r),
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
	res, err := v1Resources(r, h.memsw)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	c := &cgroupV1{path: path, host: h}
	err = retryCgroupCreate(func() (err error) {
		c.cg, err = cgroup1.New(cgroup1.StaticPath(path), res, cgroup1.WithHierarchy(h.hierarchy))
		return err
	})
	if err == nil {
		err = writeV1Devices(filepath.Join(h.devices, path), defaultDevices())
	}
	if err != nil {
		// New stops at the first hierarchy that fails and keeps the groups
		// it made before.
		_ = c.Delete()
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	return c, nil
}

// loadCgroupV1 returns the group of container id under root, or one that
// only tidies up on Delete if the group is gone.
func loadCgroupV1(root, id string) (*cgroupV1, error) {
	path := groupPath(id)
	h, err := probeV1(root)
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", path, err)
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(h.hierarchy))
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		return &cgroupV1{path: path, host: h}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", path, err)
	}
	return &cgroupV1{cg: cg, path: path, host: h}, nil
}

// AddProc moves pid into the group in every hierarchy.
func (c *cgroupV1) AddProc(pid int) error {
	if c.cg == nil {
		return fmt.Errorf("adding pid %d to cgroup %s: %w", pid, c.path, fs.ErrNotExist)
	}
	if err := c.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("adding pid %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

// Procs lists the processes in the group and below it, as the memory
// hierarchy sees them. A group that is gone has none.
func (c *cgroupV1) Procs() ([]int, error) {
	if c.cg == nil {
		return nil, nil
	}
	procs, err := c.cg.Processes(cgroup1.Memory, true)
	if errors.Is(err, cgroup1.ErrCgroupDeleted) || errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing processes of cgroup %s: %w", c.path, err)
	}
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.Pid
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
