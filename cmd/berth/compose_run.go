//go:build registry

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"

	"github.com/mattn/go-shellwords"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/runtime/containerinit"
	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/spec"
)

// `compose run SERVICE CMD`: a one-off container of a service, as docker
// compose run makes it. It is made from the scheduler's translation of the
// service (OneOffSpec) through the stack host's create path, so it has the
// service's image, env, mounts and networks; it is labelled oneoff, which
// the engine leaves alone (no restart, no removal), and it runs attached
// here as `berth run` does, the exit code being the command's.

type composeRunOptions struct {
	stack        stackOptions
	rm, detach   bool
	env          []string
	entrypoint   string
	user, wd     string
	name         string
	noDeps       bool
	noTTY        bool
	interactive  bool
	tty          bool
	publish      []string
	servicePorts bool
}

func newComposeRunCmd(g *globalOptions) *cobra.Command {
	o := &composeRunOptions{}
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARG...]",
		Short: "Run a one-off command in a new container of a service",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var entrypoint *string
			if cmd.Flags().Changed("entrypoint") {
				entrypoint = &o.entrypoint
			}
			return runComposeRun(cmd.Context(), g, o, entrypoint, args[0], args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().SetInterspersed(false) // the command's own flags are its own
	f := cmd.Flags()
	// -p is --publish after run, as in docker compose: the stack's name
	// is -p before the command (composeArgs) or --project-name here.
	f.StringArrayVar(&o.stack.files, "file", nil, "stack file (repeat to merge several; default: compose.yaml or docker-compose.yml here or in a parent)")
	f.StringVar(&o.stack.project, "project-name", "", "stack name (default: name: in the file, or the directory's name)")
	f.StringVar(&o.stack.projectDir, "project-directory", "", "directory relative paths start from (default: the first file's)")
	f.StringArrayVar(&o.stack.profiles, "profile", nil, "enable services of this profile (repeatable; env COMPOSE_PROFILES)")
	f.StringArrayVar(&o.stack.envFiles, "env-file", nil, "variables for interpolation (default: .env in the project directory)")
	f.BoolVar(&o.stack.strict, "strict", false, "fail on keys berth does not implement instead of warning")
	f.BoolVar(&o.rm, "rm", false, "remove the container (and its anonymous volumes) when it exits")
	f.BoolVarP(&o.detach, "detach", "d", false, "run in the background and print the container's name")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to copy it from here)")
	f.StringVar(&o.entrypoint, "entrypoint", "", "replace the entrypoint (split as a shell would; \"\" clears it)")
	f.StringVarP(&o.user, "user", "u", "", "user to run as: name|uid[:group|gid]")
	f.StringVarP(&o.wd, "workdir", "w", "", "working directory inside the container")
	f.StringVar(&o.name, "name", "", "name of the container (default: STACK-SERVICE-run-RANDOM)")
	f.BoolVar(&o.noDeps, "no-deps", false, "do not start the services the service depends on")
	f.BoolVarP(&o.noTTY, "no-TTY", "T", false, "do not allocate a pseudo-terminal")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "keep stdin open (compose run does by default)")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-terminal (the default when stdin is a terminal)")
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "publish a port: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/udp]")
	f.BoolVar(&o.servicePorts, "service-ports", false, "publish the service's ports too")
	return cmd
}

func runComposeRun(ctx context.Context, g *globalOptions, o *composeRunOptions, entrypoint *string, service string, command []string, out, errOut io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if os.Geteuid() != 0 {
		return &exitError{code: 1, err: runtime.ErrNotRoot}
	}
	st, err := o.stack.load(ctx, errOut)
	if err != nil {
		return err
	}
	if err := checkServices(st, []string{service}); err != nil {
		return err
	}
	svc := st.Services[service]
	h, err := newStackHost(g, errOut)
	if err != nil {
		return err
	}
	if err := prepareOneOff(ctx, g, o, h, st, svc, errOut); err != nil {
		return err
	}
	cs, err := o.spec(ctx, h, st, svc, entrypoint, command)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	tty := o.tty || (!o.noTTY && !o.detach && term.IsTerminal(int(os.Stdin.Fd())))
	id, err := createOneOff(ctx, h, cs, tty, o.interactive && !o.detach)
	if err != nil {
		return err
	}
	c, err := h.m.Get(id)
	if err != nil {
		return err
	}
	if o.detach {
		return startOneOffDetached(g, h.m, c, o.rm, out)
	}
	return runOneOffAttached(ctx, g, h.m, c, o.rm, tty)
}

// prepareOneOff brings what the one-off needs up: the services it depends
// on through the engine (which keeps them up, as after `up SERVICE`),
// unless --no-deps; and always its networks and image, which an up of
// its dependencies may not have made.
func prepareOneOff(ctx context.Context, g *globalOptions, o *composeRunOptions, h *stackHost, st *spec.Stack, svc *spec.Service, errOut io.Writer) error {
	if deps := slices.Sorted(maps.Keys(svc.DependsOn)); !o.noDeps && len(deps) > 0 {
		up := &upOptions{stack: o.stack, detach: true}
		if err := runUp(ctx, g, up, deps, io.Discard, errOut); err != nil {
			return fmt.Errorf("starting the services %s depends on: %w", svc.Name, err)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(svc.Networks)) {
		nw, ok := st.Networks[key]
		if !ok || nw.External {
			continue // an external one must exist; the create says so if not
		}
		if err := h.CreateNetwork(ctx, nw); err != nil {
			return fmt.Errorf("creating network %s: %w", nw.Name, err)
		}
	}
	ref := scheduler.ImageName(st, svc)
	if id, err := h.ImageID(ctx, ref); err != nil || id != "" {
		return err
	}
	if svc.Build != nil {
		return h.Build(ctx, st, svc, ref)
	}
	return h.Pull(ctx, ref)
}

// spec is the one-off's ContainerSpec: the service's, with run's flags
// laid over it.
func (o *composeRunOptions) spec(ctx context.Context, h *stackHost, st *spec.Stack, svc *spec.Service, entrypoint *string, command []string) (scheduler.ContainerSpec, error) {
	name := o.name
	if name == "" {
		name = st.Name + "-" + svc.Name + "-run-" + randomHex(6)
	}
	imageID, err := h.ImageID(ctx, scheduler.ImageName(st, svc))
	if err != nil {
		return scheduler.ContainerSpec{}, err
	}
	cs, err := scheduler.OneOffSpec(st, svc, name, imageID)
	if err != nil {
		return cs, err
	}
	if !o.servicePorts {
		cs.Ports = nil
	}
	cs.Ports = append(cs.Ports, o.publish...)
	if entrypoint != nil {
		words, err := shellwords.Parse(*entrypoint)
		if err != nil {
			return cs, fmt.Errorf("--entrypoint %q: %w", *entrypoint, err)
		}
		// An entrypoint of its own drops the service's command, as in
		// docker compose run; the command line's, if any, follows.
		cs.Entrypoint, cs.Command = append([]string{}, words...), []string{}
	}
	if len(command) > 0 {
		cs.Command = command
	}
	if o.user != "" {
		cs.User = o.user
	}
	if o.wd != "" {
		cs.WorkingDir = o.wd
	}
	for _, e := range o.env {
		if kv, ok := envValue(e); ok {
			cs.Env = containerinit.MergeEnv(cs.Env, []string{kv})
		}
	}
	return cs, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// createOneOff is stackHost.Create with a terminal and stdin, which a
// replica never has.
func createOneOff(ctx context.Context, h *stackHost, c scheduler.ContainerSpec, tty, interactive bool) (string, error) {
	id, err := h.create(ctx, c, tty, interactive)
	var nc *noCommandError
	if errors.As(err, &nc) {
		return "", &exitError{code: 2, err: err}
	}
	return id, err
}

// startOneOffDetached starts c in the background; with --rm a reaper
// removes it when it exits.
func startOneOffDetached(g *globalOptions, m *runtime.Manager, c *runtime.Container, rm bool, out io.Writer) error {
	p, err := m.Start(c, nil)
	if err != nil {
		return oneOffFailed(g, m, c, rm, err)
	}
	if rm {
		if err := spawnReaper(g, c.ID); err != nil {
			fmt.Fprintf(os.Stderr, "warning: --rm: %v; remove it later with: berth rm -v %s\n", err, c.Name())
		}
	}
	if err := p.Release(); err != nil {
		return err
	}
	fmt.Fprintln(out, c.Name())
	return nil
}

// runOneOffAttached runs c with this terminal's stdio, passing signals
// on, and exits with its command's code.
func runOneOffAttached(ctx context.Context, g *globalOptions, m *runtime.Manager, c *runtime.Container, rm, tty bool) error {
	stdio := &runtime.Stdio{Out: os.Stdout, Err: os.Stderr}
	if c.Config.OpenStdin {
		stdio.In = os.Stdin
	}
	if tty && term.IsTerminal(int(os.Stdin.Fd())) {
		if old, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
			defer term.Restore(int(os.Stdin.Fd()), old)
		}
	}
	// Caught before the start, so that none is lost.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Stop(sigs)
	p, err := m.Start(c, stdio)
	if err != nil {
		return oneOffFailed(g, m, c, rm, err)
	}
	go func() {
		for s := range sigs {
			_ = p.Signal(s)
		}
	}()
	st := p.Wait()
	// Ended: its address goes now, as for any stopped container.
	detachContainer(g, c)
	if rm {
		removeOneOff(g, m, c)
	}
	return &exitError{code: st.ExitCode}
}

// oneOffFailed reports a one-off that did not start, with Docker's exit
// code for it; its network goes (it will never run), and with --rm the
// container too.
func oneOffFailed(g *globalOptions, m *runtime.Manager, c *runtime.Container, rm bool, err error) error {
	detachContainer(g, c)
	if rm {
		removeOneOff(g, m, c)
	}
	code := 125
	var se *runtime.StartError
	if errors.As(err, &se) {
		code = se.Code
	}
	return &exitError{code: code, err: err}
}

func removeOneOff(g *globalOptions, m *runtime.Manager, c *runtime.Container) {
	if err := m.Remove(context.Background(), c, true); err != nil {
		fmt.Fprintf(os.Stderr, "warning: removing %s: %v\n", c.Name(), err)
		return
	}
	removeAnonymousVolumes(g, m, c)
}
