package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Required are the controllers every container's group gets on v2, with
// or without limits: memory for memory.events (OOM kills), cpu and pids for
// their accounting.
var v2Required = []string{"cpu", "memory", "pids"}

// v2Optional are enabled where the host offers them: io accounts I/O.
var v2Optional = []string{"io"}

// cgroupV2 is a container's group on the unified hierarchy: <mount>/berth/<id>.
type cgroupV2 struct {
	m     *cgroup2.Manager
	mount string
	path  string // /berth/<id>
}

func (c *cgroupV2) dir() string { return filepath.Join(c.mount, c.path) }

// v2Controllers returns the controllers a group under mount gets: all of
// v2Required, which mount must offer, and what it offers of v2Optional.
func v2Controllers(mount string) ([]string, error) {
	file := filepath.Join(mount, "cgroup.controllers")
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading controllers: %w", err)
	}
	have := strings.Fields(string(b))
	var out []string
	for _, c := range v2Required {
		if !slices.Contains(have, c) {
			return nil, &CgroupUnavailableError{
				Missing: fmt.Sprintf("the cgroup v2 %s controller", c),
				Path:    file,
				Fix: "a v1 hierarchy holds it, or the kernel lacks it; unmount that v1 hierarchy " +
					"(or boot with cgroup_no_v1=all), or use a kernel built with it",
			}
		}
		out = append(out, c)
	}
	for _, c := range v2Optional {
		if slices.Contains(have, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// v2Resources translates r for a group with the given controllers enabled;
// devices, if any, become the group's eBPF device filter.
func v2Resources(r Resources, controllers []string, devices []specs.LinuxDeviceCgroup) (*cgroup2.Resources, error) {
	mem, err := memoryLimitsFor(r)
	if err != nil {
		return nil, err
	}
	cpu, err := cpuV2(r)
	if err != nil {
		return nil, err
	}
	res := &cgroup2.Resources{Devices: devices}
	// A non-nil controller field is what enables it for the group.
	need := func(c string, limited bool) (bool, error) {
		if slices.Contains(controllers, c) {
			return true, nil
		}
		if limited {
			return false, fmt.Errorf("limit needs the %s controller, which is not enabled", c)
		}
		return false, nil
	}
	if ok, err := need("memory", mem.limit != 0); err != nil {
		return nil, err
	} else if ok {
		res.Memory = mem.v2()
	}
	if ok, err := need("cpu", cpu.Weight != nil || cpu.Max != ""); err != nil {
		return nil, err
	} else if ok {
		res.CPU = cpu
	}
	if ok, err := need("pids", pidsLimit(r) != 0); err != nil {
		return nil, err
	} else if ok {
		res.Pids = pidsV2(r)
	}
	if slices.Contains(controllers, "io") {
		res.IO = &cgroup2.IO{}
	}
	return res, nil
}

// newCgroupV2 creates /berth/<id> on the unified hierarchy at mount, with
// controllers enabled (see v2Controllers), r applied and devices as its
// device filter (nil: none).
func newCgroupV2(mount, id string, r Resources, controllers []string, devices []specs.LinuxDeviceCgroup) (*cgroupV2, error) {
	path := groupPath(id)
	res, err := v2Resources(r, controllers, devices)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	c := &cgroupV2{mount: mount, path: path}
	// NewManager enables the controllers in <mount> and <mount>/berth, makes
	// the group, writes the limits and attaches the device filter; it
	// removes the group again if any of that fails.
	err = retryCgroupCreate(func() (err error) {
		c.m, err = cgroup2.NewManager(mount, path, res)
		return err
	})
	if err != nil {
		_ = removeCgroupParents([]string{mount})
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	if err := c.limitSwap(r); err != nil {
		_ = c.Delete()
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	return c, nil
}

// limitSwap writes memory.swap.max, which exists only once the group has
// the memory controller, and only where the kernel accounts swap. Without it
// swap cannot be capped: v2 has no memory.swappiness to turn it off either.
func (c *cgroupV2) limitSwap(r Resources) error {
	mem, err := memoryLimitsFor(r)
	if err != nil {
		return err
	}
	swap, ok := mem.swapMax()
	if !ok || !cgroupFileExists(filepath.Join(c.dir(), "memory.swap.max")) {
		return nil
	}
	return c.m.Update(&cgroup2.Resources{Memory: &cgroup2.Memory{Swap: &swap}})
}

// loadCgroupV2 returns the group of container id on the unified hierarchy
// at mount; it need not exist.
func loadCgroupV2(mount, id string) (*cgroupV2, error) {
	path := groupPath(id)
	m, err := cgroup2.Load(path, cgroup2.WithMountpoint(mount))
	if err != nil {
		return nil, fmt.Errorf("loading cgroup %s: %w", path, err)
	}
	return &cgroupV2{m: m, mount: mount, path: path}, nil
}

// AddProc moves pid into the group.
func (c *cgroupV2) AddProc(pid int) error {
	if err := c.m.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("adding pid %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

// Procs lists the processes in the group and below it. A group that is gone
// has none.
func (c *cgroupV2) Procs() ([]int, error) {
	procs, err := c.m.Procs(true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing processes of cgroup %s: %w", c.path, err)
	}
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = int(p)
	}
	return pids, nil
}

// OOMEventsPath is the group's memory.events.
func (c *cgroupV2) OOMEventsPath() string {
	return filepath.Join(c.dir(), "memory.events")
}

// Delete removes the group, then <mount>/berth if no other group uses it.
// The kernel detaches and frees the group's device filter with it.
func (c *cgroupV2) Delete() error {
	if err := removeCgroupDir(c.dir()); err != nil {
		return fmt.Errorf("deleting cgroup %s: %w", c.path, err)
	}
	if err := removeCgroupParents([]string{c.mount}); err != nil {
		return fmt.Errorf("deleting cgroup %s: %w", c.path, err)
	}
	return nil
}
