package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/berthproject/berth/runtime"
)

type runOptions struct {
	rootfs      string
	name        string
	detach      bool
	autoRemove  bool
	env         []string
	envFiles    []string
	user        string
	workdir     string
	hostname    string
	memory      string
	memorySwap  string
	cpus        float64
	cpuShares   uint64
	pidsLimit   int64
	readOnly    bool
	volumes     []string
	tmpfs       []string
	tty         bool
	interactive bool
	stopSignal  string
	stopTimeout int
	labels      []string
	entrypoint  string
	// entrypointSet tells --entrypoint "" (clear it) from no flag at all.
	entrypointSet bool

	// Network flags, read by networkPlan (run_network.go).
	networks   []string
	ip         string
	aliases    []string
	publish    []string
	dns        []string
	dnsSearch  []string
	dnsOptions []string
	addHosts   []string
}

func newRunCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]  |  run [OPTIONS] --rootfs DIR [--] COMMAND [ARG...]",
		Short: "Run a command in a new container",
		RunE: func(cmd *cobra.Command, args []string) error {
			o.entrypointSet = cmd.Flags().Changed("entrypoint")
			return runRun(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	// Everything after the command belongs to the command.
	f.SetInterspersed(false)
	f.StringVar(&o.rootfs, "rootfs", "", "directory to use as the root filesystem, instead of an image")
	f.StringVar(&o.entrypoint, "entrypoint", "", "replace the image's entrypoint (\"\" clears it)")
	f.StringVar(&o.name, "name", "", "name of the container")
	f.BoolVarP(&o.detach, "detach", "d", false, "run in the background and print the container ID")
	f.BoolVar(&o.autoRemove, "rm", false, "remove the container when it exits")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to copy it from here)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "read environment variables from a file")
	f.StringVarP(&o.user, "user", "u", "", "user to run as: name|uid[:group|gid]")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&o.hostname, "hostname", "h", "", "container host name")
	f.StringVarP(&o.memory, "memory", "m", "", "memory limit (e.g. 64m, 1g)")
	f.StringVar(&o.memorySwap, "memory-swap", "", "memory plus swap limit; -1 for unlimited swap")
	f.Float64Var(&o.cpus, "cpus", 0, "number of CPUs (e.g. 0.5)")
	f.Uint64VarP(&o.cpuShares, "cpu-shares", "c", 0, "relative CPU weight (default 1024)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "maximum number of processes (-1 for unlimited)")
	f.BoolVar(&o.readOnly, "read-only", false, "mount the root filesystem read-only")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "mount HOST:CONTAINER[:ro] (a host directory), NAME:CONTAINER[:ro] (a named volume) or CONTAINER (a new anonymous volume)")
	f.StringArrayVar(&o.tmpfs, "tmpfs", nil, "mount a tmpfs: PATH[:OPTIONS]")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-terminal")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "keep stdin open")
	f.StringVar(&o.stopSignal, "stop-signal", "", "signal that stops the container (default SIGTERM)")
	f.IntVar(&o.stopTimeout, "stop-timeout", -1, "seconds to wait after the stop signal before killing (default 10)")
	f.StringArrayVar(&o.networks, "network", nil, "connect to a network: bridge (the default), NAME, none (loopback only) or host; repeat for several; name=NET,alias=A,ip=IP sets those for one")
	f.StringVar(&o.ip, "ip", "", "IPv4 address on the (first) network")
	f.StringArrayVar(&o.aliases, "network-alias", nil, "another name the container answers to in DNS on the (first) network")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a port: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/udp]")
	f.StringArrayVar(&o.dns, "dns", nil, "nameserver for the container's resolv.conf (default: berth's DNS server)")
	f.StringArrayVar(&o.dnsSearch, "dns-search", nil, "search domain for the container's resolv.conf")
	f.StringArrayVar(&o.dnsOptions, "dns-option", nil, "option line for the container's resolv.conf")
	f.StringArrayVar(&o.addHosts, "add-host", nil, "add a line to /etc/hosts: NAME:IP (IP may be host-gateway)")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "set a label KEY=VALUE")
	// -h is --hostname, as in Docker; help stays reachable as --help.
	cmd.Flags().BoolP("help", "", false, "help for run")
	return cmd
}

func runRun(ctx context.Context, g *globalOptions, o *runOptions, args []string) error {
	// Checked first: without root, every later step fails in a less
	// telling way (the state directory, the cgroup, the namespaces).
	if os.Geteuid() != 0 {
		return &exitError{code: 125, err: runtime.ErrNotRoot}
	}
	plan, err := o.networkPlan()
	if err != nil {
		return &exitError{code: 125, err: err}
	}
	cfg, vols, err := o.config(args, imageLookup(g))
	if err != nil {
		return &exitError{code: 125, err: err}
	}
	m, err := newManager(g)
	if err != nil {
		return &exitError{code: 125, err: err}
	}
	rv, err := prepareVolumes(g, &cfg, vols)
	if err != nil {
		rv.discard(g, m)
		return &exitError{code: 125, err: err}
	}
	r := &starter{g: g, m: m, plan: plan, rv: rv}
	if o.detach {
		return r.runDetached(ctx, cfg)
	}
	return r.runAttached(ctx, cfg, o)
}

// starter starts a container with its network and volumes.
type starter struct {
	g    *globalOptions
	m    *runtime.Manager
	plan *netPlan
	rv   *runVolumes
	net  *runNet
}

// run sets the network up and runs the container. On a network of
// berth's, a container without --name gets its generated name here, so
// that DNS knows it; if a concurrent run takes that name first, another
// one is picked.
func (r *starter) run(ctx context.Context, base runtime.Config, stdio *runtime.Stdio) (*runtime.Container, *runtime.Process, error) {
	generated := base.Name == "" && r.plan.mode == "bridge"
	for attempt := 0; ; attempt++ {
		cfg := base
		if generated {
			cfg.Name = r.m.NewName()
		}
		net, err := r.plan.setUp(ctx, r.g, r.m, &cfg)
		if err != nil {
			return nil, nil, err
		}
		c, p, err := r.m.Run(cfg, stdio)
		if c == nil && err != nil {
			net.detach()
			if generated && errors.Is(err, runtime.ErrNameInUse) && attempt < 5 {
				continue
			}
			return nil, nil, err
		}
		net.created()
		r.net = net
		return c, p, err
	}
}

func (r *starter) runDetached(ctx context.Context, cfg runtime.Config) error {
	c, p, err := r.run(ctx, cfg, nil)
	if err != nil {
		return r.startFailed(c, err)
	}
	r.rv.created()
	if c.Config.AutoRemove {
		if err := spawnReaper(r.g, c.ID); err != nil {
			fmt.Fprintf(os.Stderr, "warning: --rm: %v; remove it later with: berth rm -v %s\n", err, c.Name())
		}
	}
	if err := p.Release(); err != nil {
		return &exitError{code: 125, err: err}
	}
	fmt.Println(c.ID)
	return nil
}

func (r *starter) runAttached(ctx context.Context, cfg runtime.Config, o *runOptions) error {
	stdio := &runtime.Stdio{Out: os.Stdout, Err: os.Stderr}
	if o.interactive {
		stdio.In = os.Stdin
	}
	if o.tty && term.IsTerminal(int(os.Stdin.Fd())) {
		old, err := term.MakeRaw(int(os.Stdin.Fd()))
		if err == nil {
			defer term.Restore(int(os.Stdin.Fd()), old)
		}
	}
	// Catch the signals before the container exists, so none is lost.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Stop(sigs)
	c, p, err := r.run(ctx, cfg, stdio)
	if err != nil {
		return r.startFailed(c, err)
	}
	r.rv.created()
	go func() {
		for s := range sigs {
			_ = p.Signal(s)
		}
	}()
	st := p.Wait()
	// The container has ended: its address and ports go now, as Docker
	// releases them when a container stops.
	r.net.detachLater(r.g)
	if c.Config.AutoRemove {
		if err := r.m.Remove(ctx, c, true); err != nil {
			fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		} else {
			removeAnonymousVolumes(r.g, r.m, c)
		}
	}
	return &exitError{code: st.ExitCode}
}

// startFailed reports a container that was not created (c is nil) or did
// not start, removing it with --rm, and exits with Docker's code for the
// failure. The anonymous volumes go with a container that goes (or never
// was); a container that stays keeps them. Its network goes either way:
// it will never run.
func (r *starter) startFailed(c *runtime.Container, err error) error {
	g, m, rv := r.g, r.m, r.rv
	r.net.detach()
	switch {
	case c == nil:
		rv.discard(g, m)
	case c.Config.AutoRemove:
		rv.created()
		if m.Remove(context.Background(), c, true) == nil {
			removeAnonymousVolumes(g, m, c)
		}
	default:
		rv.created()
	}
	code := 125
	var se *runtime.StartError
	if errors.As(err, &se) {
		code = se.Code
	}
	return &exitError{code: code, err: err}
}

// spawnReaper starts a detached `berth reap` that removes the container
// when it exits, which is what --rm means for a detached container.
func spawnReaper(g *globalOptions, id string) error {
	return spawnHelper(g, "__reap", id)
}

// spawnHelper starts `berth COMMAND ARGS...` on this root, detached in a
// session of its own; its stderr goes to RUN/helpers.log.
func spawnHelper(g *globalOptions, command string, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, append([]string{"--root", g.root, command}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if f, err := os.OpenFile(helperLog(g), os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600); err == nil {
		defer f.Close()
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	// Reaped when it ends, should this process outlive it (the engine
	// runs for long, and a helper it never waited for would stay a zombie).
	go func() { _ = cmd.Wait() }()
	return nil
}

// helperLog is where berth's background helpers (__reap, __detach,
// __dns) say what went wrong.
func helperLog(g *globalOptions) string { return filepath.Join(g.runDir(), "helpers.log") }

func newReapCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    "__reap ID",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := newManager(g)
			if err != nil {
				return err
			}
			c, err := m.Get(args[0])
			if err != nil {
				return err
			}
			if _, err := m.Wait(context.Background(), c); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := m.Remove(ctx, c, true); err != nil {
				return err
			}
			detachContainer(g, c)
			// --rm takes the container's anonymous volumes too, as in Docker.
			removeAnonymousVolumes(g, m, c)
			return nil
		},
	}
}
