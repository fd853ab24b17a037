//go:build registry

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/network"
	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/spec"
	"github.com/berthproject/berth/volume"
)

// stackHost is the scheduler's Host on this machine: a replica is made
// the way `berth run -d` makes a container (its flags are built from the
// scheduler's ContainerSpec), so stacks and single containers share one
// path for networks, ports, volumes and image defaults.
type stackHost struct {
	g        *globalOptions
	m        *runtime.Manager
	progress io.Writer // pull progress
	// detachLater, set in the engine, takes a removed replica's network
	// down in the background (see Remove); detaching counts those in
	// flight, which RemoveNetwork and the engine's exit wait for.
	detachLater bool
	detaching   sync.WaitGroup
}

func newStackHost(g *globalOptions, progress io.Writer) (*stackHost, error) {
	m, err := newManager(g)
	if err != nil {
		return nil, err
	}
	return &stackHost{g: g, m: m, progress: progress}, nil
}

func (h *stackHost) Replicas(ctx context.Context, stack string) ([]scheduler.Replica, error) {
	cs, err := h.m.List()
	if err != nil {
		return nil, err
	}
	var out []scheduler.Replica
	for _, c := range cs {
		l := c.Config.Labels
		if l[scheduler.LabelProject] != stack {
			continue
		}
		n, _ := strconv.Atoi(l[scheduler.LabelNumber])
		r := scheduler.Replica{
			ID: c.ID, Name: c.Name(), Service: l[scheduler.LabelService], Number: n,
			Hash: l[scheduler.LabelConfigHash], ImageID: l[scheduler.LabelImage],
			Oneoff: l[scheduler.LabelOneoff] == "True", ExitCode: c.State.ExitCode,
			StopRequested: c.State.StopRequested, Restart: scheduler.RestartStateOf(l),
			StartedAt: c.State.StartedAt, FinishedAt: c.State.FinishedAt,
		}
		if c.State.Health != nil {
			r.Health = c.State.Health.Status
		}
		switch {
		case c.State.Running:
			r.State = scheduler.StateRunning
		case c.State.Status == runtime.StatusCreated:
			r.State = scheduler.StateCreated
		default:
			r.State = scheduler.StateExited
		}
		out = append(out, r)
	}
	return out, nil
}

func (h *stackHost) Networks(ctx context.Context, names []string) (map[string]bool, error) {
	nm, err := newNetworkManager(h.g)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range names {
		_, err := nm.Get(n)
		switch {
		case err == nil:
			out[n] = true
		case !errors.Is(err, network.ErrNotFound):
			return nil, err
		}
	}
	return out, nil
}

func (h *stackHost) ImageID(ctx context.Context, ref string) (string, error) {
	s, err := newImageStore(h.g)
	if err != nil {
		return "", err
	}
	img, err := s.Get(ref)
	var nf *image.NotFoundError
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

func (h *stackHost) CreateNetwork(ctx context.Context, nw *spec.Network) error {
	nm, err := newNetworkManager(h.g)
	if err != nil {
		return err
	}
	cfg := network.NetworkConfig{Name: nw.Name, Internal: nw.Internal, Labels: maps.Clone(nw.Labels)}
	if len(nw.Subnets) > 0 {
		cfg.Subnet, cfg.Gateway = nw.Subnets[0].Subnet, nw.Subnets[0].Gateway
	}
	_, err = nm.Create(cfg)
	if errors.Is(err, network.ErrExists) {
		return nil // made meanwhile: creating is idempotent
	}
	return err
}

func (h *stackHost) RemoveNetwork(ctx context.Context, name string) error {
	h.detaching.Wait() // a network is removed once nothing is on it
	nm, err := newNetworkManager(h.g)
	if err != nil {
		return err
	}
	err = nm.Remove(name)
	if errors.Is(err, network.ErrNotFound) {
		return nil
	}
	return err
}

func (h *stackHost) Pull(ctx context.Context, ref string) error {
	s, err := newImageStore(h.g)
	if err != nil {
		return err
	}
	progress, pp := newProgress(h.progress, false)
	_, err = s.Pull(ctx, ref, progress)
	pp.done()
	return err
}

func (h *stackHost) Build(ctx context.Context, st *spec.Stack, svc *spec.Service, tag string) error {
	return buildService(ctx, h.g, h.progress, st, svc, tag)
}

// Create makes the replica as `berth run -d` would, without starting it.
func (h *stackHost) Create(ctx context.Context, c scheduler.ContainerSpec) (string, error) {
	return h.create(ctx, c, false, false)
}

// create makes c as `berth run -d` would, without starting it; tty and
// stdin are for one-offs (compose run), which run attached.
func (h *stackHost) create(ctx context.Context, c scheduler.ContainerSpec, tty, stdin bool) (string, error) {
	o, plan, err := runFlags(c)
	if err != nil {
		return "", err
	}
	o.tty, o.interactive = tty, stdin
	lookup := onceLookup(imageLookup(h.g)) // asked thrice below
	argv, err := commandOf(c, lookup)
	if err != nil {
		return "", err
	}
	// run's --entrypoint takes one word: the argv's first is it, the rest
	// the command, which gives run exactly argv.
	o.entrypoint, o.entrypointSet = argv[0], true
	cfg, vols, err := o.config(append([]string{c.Image}, argv[1:]...), lookup)
	if err != nil {
		return "", err
	}
	if cfg.Healthcheck, err = healthcheckOf(c, lookup); err != nil {
		return "", err
	}
	rv, err := prepareVolumes(h.g, &cfg, vols)
	if err != nil {
		rv.discard(h.g, h.m)
		return "", err
	}
	net, err := plan.setUp(ctx, h.g, h.m, &cfg)
	if err != nil {
		rv.discard(h.g, h.m)
		return "", err
	}
	ctr, err := h.m.Create(cfg)
	if err != nil {
		net.detach()
		rv.discard(h.g, h.m)
		return "", err
	}
	net.created()
	rv.created()
	return ctr.ID, nil
}

// runFlags are the `berth run` flags that make c.
func runFlags(c scheduler.ContainerSpec) (*runOptions, *netPlan, error) {
	o := &runOptions{
		name: c.Name, detach: true, env: c.Env, user: c.User, workdir: c.WorkingDir,
		hostname: c.Hostname, readOnly: c.ReadOnly, stopSignal: c.StopSignal,
		stopTimeout: int(c.StopGrace / time.Second), cpus: float64(c.Resources.NanoCPUs) / 1e9,
		cpuShares: uint64(max(c.Resources.CPUShares, 0)), pidsLimit: c.Resources.Pids,
		dns: c.DNS, addHosts: c.ExtraHosts, publish: c.Ports,
	}
	if c.StopGrace == 0 {
		o.stopTimeout = -1
	}
	if c.Resources.Memory > 0 {
		o.memory = strconv.FormatInt(c.Resources.Memory, 10)
	}
	if c.Resources.MemorySwap != 0 {
		o.memorySwap = strconv.FormatInt(c.Resources.MemorySwap, 10)
	}
	for _, k := range sortedLabelKeys(c.Labels) {
		o.labels = append(o.labels, k+"="+c.Labels[k])
	}
	for _, m := range c.Mounts {
		switch m.Type {
		case spec.MountTmpfs:
			t := m.Target
			if m.TmpfsOptions != "" {
				t += ":" + m.TmpfsOptions
			}
			o.tmpfs = append(o.tmpfs, t)
		default:
			v := m.Target
			if m.Source != "" {
				v = m.Source + ":" + m.Target
			}
			if m.ReadOnly {
				v += ":ro"
			}
			o.volumes = append(o.volumes, v)
		}
	}
	plan := &netPlan{mode: "none", ports: nil, dns: c.DNS, addHosts: c.ExtraHosts}
	for _, n := range c.Networks {
		plan.mode = "bridge"
		plan.reqs = append(plan.reqs, network.AttachRequest{Network: n.Network, IP: n.IP, Aliases: n.Aliases})
	}
	for _, p := range c.Ports {
		pm, err := network.ParsePortMapping(p)
		if err != nil {
			return nil, nil, fmt.Errorf("publishing %s: %w", p, err)
		}
		plan.ports = append(plan.ports, pm)
	}
	if len(plan.ports) > 0 && plan.mode == "none" {
		return nil, nil, errors.New("ports are published on networks, and the service joins none")
	}
	return o, plan, nil
}

// commandOf works out the replica's argv by Compose's rules: command
// replaces the image's Cmd; entrypoint replaces its Entrypoint and drops
// its Cmd unless command is given too.
func commandOf(c scheduler.ContainerSpec, lookup func(string) (imageInfo, error)) ([]string, error) {
	img, err := lookup(c.Image)
	if err != nil {
		return nil, err
	}
	entrypoint, cmd := img.Defaults.Entrypoint, img.Defaults.Cmd
	if c.Entrypoint != nil {
		entrypoint, cmd = c.Entrypoint, nil
	}
	if c.Command != nil {
		cmd = c.Command
	}
	argv := append(append([]string{}, entrypoint...), cmd...)
	if len(argv) == 0 {
		return nil, &noCommandError{image: c.Image}
	}
	return argv, nil
}

// noCommandError: neither the image nor the service says what to run.
type noCommandError struct{ image string }

func (e *noCommandError) Error() string {
	return fmt.Sprintf("image %s has neither Entrypoint nor Cmd, and the service sets no command", e.image)
}

func sortedLabelKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (h *stackHost) get(id string) (*runtime.Container, error) { return h.m.Get(id) }

func (h *stackHost) Start(ctx context.Context, id string) error {
	c, err := h.get(id)
	if err != nil {
		return err
	}
	p, err := h.m.Start(c, nil)
	if err != nil {
		return err
	}
	// The engine is the init's parent and lives on: it reaps the init
	// when the container ends (its exit status is in exit.json).
	go p.Wait()
	return nil
}

func (h *stackHost) Rename(ctx context.Context, id, name string) error {
	c, err := h.get(id)
	if err != nil {
		return err
	}
	return h.m.Rename(c, name)
}

// drainWait is how long after a container is marked stopping its address
// may still be in DNS answers: the DNS server asks about each container
// at most once a second (network.Records).
const drainWait = 1500 * time.Millisecond

func (h *stackHost) Drain(ctx context.Context, id string) error {
	c, err := h.get(id)
	if err != nil {
		return err
	}
	if err := h.m.MarkStopping(c); err != nil {
		return err
	}
	select {
	case <-time.After(drainWait):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *stackHost) Stop(ctx context.Context, id string, grace time.Duration) error {
	c, err := h.get(id)
	if err != nil {
		return err
	}
	if err := h.m.Stop(ctx, c, grace); err != nil {
		return err
	}
	// As berth stop does: a stopped container keeps no address.
	h.detach(c)
	return nil
}

// detach takes c's network down: in the engine, in the background once
// its ports are free (detachInBackground), else at once.
func (h *stackHost) detach(c *runtime.Container) {
	if h.detachLater {
		h.detachInBackground(c)
		return
	}
	detachContainer(h.g, c)
}

func (h *stackHost) Remove(ctx context.Context, id string, volumes bool) error {
	c, err := h.get(id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := h.m.Remove(ctx, c, false); err != nil {
		return err
	}
	h.detach(c)
	if volumes {
		removeAnonymousVolumes(h.g, h.m, c)
	}
	return nil
}

// detachInBackground takes c's network down as detachContainer does, but
// returns once its ports are free, leaving the links, namespace and
// addresses to a goroutine: deleting a veth pair waits ~25 ms for the
// kernel, and a replica's replacement, created right after this
// removal, would wait with it. A static address is waited for by the
// successor's attach; the engine's death half-way is a crashed detach,
// which the next attach, detach or clean-up finishes.
func (h *stackHost) detachInBackground(c *runtime.Container) {
	if !hasSandbox(c) {
		return
	}
	nm, err := newNetworkManager(h.g)
	var finish func() error
	if err == nil {
		finish, err = nm.DetachStart(c.ID)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: taking down the network of %s: %v\n", c.Name(), err)
		return
	}
	if finish == nil {
		return
	}
	h.detaching.Add(1)
	go func() {
		defer h.detaching.Done()
		if err := finish(); err != nil {
			fmt.Fprintf(os.Stderr, "warning: taking down the network of %s: %v\n", c.Name(), err)
		}
	}()
}

// WaitDetached waits for the background detaches of removed replicas
// (detachInBackground), at most for d.
func (h *stackHost) WaitDetached(d time.Duration) {
	done := make(chan struct{})
	go func() {
		h.detaching.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// WaitExit waits on a pidfd of the container's init: the engine hears of
// an exit at once, without polling.
func (h *stackHost) WaitExit(ctx context.Context, id string) error {
	c, err := h.get(id)
	if err != nil || !c.State.Running {
		return nil
	}
	fd, err := unix.PidfdOpen(c.State.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("watching container %s: %w", c.Name(), err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	// The pid may have been reused between Get and PidfdOpen: the
	// container must still run now that the pidfd holds the process.
	if c, err = h.get(id); err != nil || !c.State.Running {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		done <- rc.Read(func(fd uintptr) bool {
			n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
			return n > 0
		})
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		f.Close() // ends the Read
		<-done
		return ctx.Err()
	}
}

func (h *stackHost) Healthy(ctx context.Context, id string) (bool, error) {
	c, err := h.get(id)
	if err != nil {
		return false, err
	}
	return c.State.Running && (c.State.Health == nil || c.State.Health.Status == runtime.HealthHealthy), nil
}

func (h *stackHost) CheckHealth(ctx context.Context, id string) (string, time.Duration, error) {
	c, err := h.get(id)
	if err != nil {
		return "", 0, err
	}
	if !c.State.Running {
		return "", 0, fmt.Errorf("container %s: %w", c.Name(), runtime.ErrNotRunning)
	}
	if c.Config.Healthcheck == nil {
		return "", 0, nil
	}
	health, err := h.m.CheckHealth(ctx, c)
	if err != nil {
		return "", 0, err
	}
	return health.Status, runtime.NextHealthCheck(c, time.Now()), nil
}

// healthcheckOf is the replica's health check: the service's, else the
// image's HEALTHCHECK; none when the service disables it.
func healthcheckOf(c scheduler.ContainerSpec, lookup func(string) (imageInfo, error)) (*runtime.HealthConfig, error) {
	if hc := c.Healthcheck; hc != nil {
		if len(hc.Test) > 0 && hc.Test[0] == "NONE" {
			return nil, nil
		}
		img, err := lookup(c.Image)
		if err != nil {
			return nil, err
		}
		out := runtime.HealthConfig{Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout,
			StartPeriod: hc.StartPeriod, StartInterval: hc.StartInterval, Retries: hc.Retries}
		// What the service leaves unset comes from the image, as in Compose.
		if base := img.Defaults.Healthcheck; base != nil {
			if out.Test == nil {
				out.Test = base.Test
			}
			out.Interval = cmp.Or(out.Interval, base.Interval)
			out.Timeout = cmp.Or(out.Timeout, base.Timeout)
			out.StartPeriod = cmp.Or(out.StartPeriod, base.StartPeriod)
			out.StartInterval = cmp.Or(out.StartInterval, base.StartInterval)
			out.Retries = cmp.Or(out.Retries, base.Retries)
		}
		if len(out.Test) == 0 {
			return nil, nil
		}
		return &out, nil
	}
	img, err := lookup(c.Image)
	if err != nil {
		return nil, err
	}
	return img.Defaults.Healthcheck, nil
}

func (h *stackHost) Exited(ctx context.Context, id string) (bool, int, error) {
	c, err := h.get(id)
	if err != nil {
		return false, 0, err
	}
	exited := !c.State.Running && c.State.Status != runtime.StatusCreated
	return exited, c.State.ExitCode, nil
}

func (h *stackHost) RemoveVolume(ctx context.Context, name string) error {
	s, err := newVolumeStore(h.g)
	if err != nil {
		return err
	}
	err = s.Remove(name, volumeUsers(h.g, h.m))
	if errors.Is(err, volume.ErrNotFound) {
		return nil
	}
	return err
}
