package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// v2Required are the controllers every container's group gets on v2, with
// or without limits: memory for memory.events (OOM kills), cpu and pids for
// their accounting.
var v2Required = []string{"cpu", "memory", "pids"}

// v2Optional are enabled where the host offers them: io accounts I/O.
var v2Optional = []string{"io"}

// cgroupV2 is a container's group on the unified hierarchy: <mount>/berth/<id>.
type cgroupV2 struct {
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

// v2Resources translates r for a group with the given controllers enabled.
// A limit whose controller is not among them is an error.
func v2Resources(r Resources, controllers []string) ([]cgroupSetting, error) {
	mem, err := memoryLimitsFor(r)
	if err != nil {
		return nil, err
	}
	cpu, err := cpuV2(r)
	if err != nil {
		return nil, err
	}
	var out []cgroupSetting
	for _, c := range []struct {
		name     string
		settings []cgroupSetting
	}{
		{"cpu", cpu},
		{"memory", mem.v2()},
		{"pids", pidsSettings(r)},
	} {
		if len(c.settings) > 0 && !slices.Contains(controllers, c.name) {
			return nil, fmt.Errorf("limit needs the %s controller, which is not enabled", c.name)
		}
		out = append(out, c.settings...)
	}
	return out, nil
}

// newCgroupV2 creates /berth/<id> on the unified hierarchy at mount, with
// controllers enabled (see v2Controllers), r applied and devices as its
// device filter (nil: none).
func newCgroupV2(mount, id string, r Resources, controllers []string, devices []deviceRule) (*cgroupV2, error) {
	path := groupPath(id)
	res, err := v2Resources(r, controllers)
	if err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	var filter asm.Instructions
	if len(devices) > 0 {
		if filter, err = deviceFilter(devices); err != nil {
			return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
		}
	}
	c := &cgroupV2{mount: mount, path: path}
	err = retryCgroupCreate(func() error { return c.create(controllers, res, filter) })
	if err != nil {
		// The kernel detaches the device filter with the group.
		_ = unix.Rmdir(c.dir())
		_ = unix.Rmdir(c.initDir())
		_ = removeCgroupParents([]string{mount})
		return nil, fmt.Errorf("creating cgroup %s: %w", path, err)
	}
	return c, nil
}

// create makes the group, enables controllers for it, writes res and
// attaches filter (nil: none).
func (c *cgroupV2) create(controllers []string, res []cgroupSetting, filter asm.Instructions) error {
	if err := makeCgroupDir(c.dir()); err != nil {
		return err
	}
	if err := makeCgroupDir(c.initDir()); err != nil {
		return err
	}
	if len(controllers) > 0 {
		// A group gets the controllers its parent enables in
		// cgroup.subtree_control: <mount> enables them for berth, berth for
		// the group. Only berth's write counts: the root may refuse (a
		// delegated or rootless mount) controllers that it has enabled
		// already, and if it has not, berth's write fails too.
		enable := "+" + strings.Join(controllers, " +")
		_ = writeCgroupFile(filepath.Join(c.mount, "cgroup.subtree_control"), enable)
		if err := writeCgroupFile(filepath.Join(c.mount, cgroupParent, "cgroup.subtree_control"), enable); err != nil {
			return err
		}
	}
	if err := writeCgroupSettings(c.dir(), res); err != nil {
		return err
	}
	if filter != nil {
		return attachDeviceFilter(c.dir(), filter)
	}
	return nil
}

// loadCgroupV2 returns the group of container id on the unified hierarchy
// at mount; it need not exist.
func loadCgroupV2(mount, id string) (*cgroupV2, error) {
	return &cgroupV2{mount: mount, path: groupPath(id)}, nil
}

// AddProc moves pid into the group.
func (c *cgroupV2) AddProc(pid int) error {
	if err := addCgroupProc(c.dir(), pid); err != nil {
		return fmt.Errorf("adding pid %d to cgroup %s: %w", pid, c.path, err)
	}
	return nil
}

// Procs lists the processes in the group and below it. A group that is gone
// has none.
// initDir is the init's own leaf, /berth/<id>.init, beside the container's
// group: no limits, and the kernel's no-internal-processes rule is kept.
func (c *cgroupV2) initDir() string { return c.dir() + ".init" }

func (c *cgroupV2) AddInit(pid int) error {
	if err := addCgroupProc(c.initDir(), pid); err != nil {
		return fmt.Errorf("adding init %d to cgroup %s.init: %w", pid, c.path, err)
	}
	return nil
}

func (c *cgroupV2) JoinFiles() (join, leave []*os.File, err error) {
	in, err := os.OpenFile(filepath.Join(c.dir(), "cgroup.procs"), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening cgroup %s: %w", c.path, err)
	}
	out, err := os.OpenFile(filepath.Join(c.initDir(), "cgroup.procs"), os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		in.Close()
		return nil, nil, fmt.Errorf("opening cgroup %s.init: %w", c.path, err)
	}
	return []*os.File{in}, []*os.File{out}, nil
}

func (c *cgroupV2) Procs() ([]int, error) {
	pids, err := readCgroupProcs(c.dir())
	if err != nil {
		return nil, fmt.Errorf("listing processes of cgroup %s: %w", c.path, err)
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
	for _, dir := range []string{c.dir(), c.initDir()} {
		if err := removeCgroupDir(dir); err != nil {
			return fmt.Errorf("deleting cgroup %s: %w", dir, err)
		}
	}
	if err := removeCgroupParents([]string{c.mount}); err != nil {
		return fmt.Errorf("deleting cgroup %s: %w", c.path, err)
	}
	return nil
}
