//go:build registry

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/scheduler/api"
)

// The stack's containers, acted on as the top-level stop, kill and rm act
// on containers, with compose's progress lines on stderr:
// " Container st-web-1  Stopped".

type composeControlOptions struct {
	stack   stackOptions
	timeout int // -t, seconds; negative: each container's own grace period
	signal  string
	force   bool
	stop    bool
	volumes bool
}

func newComposeStopCmd(g *globalOptions) *cobra.Command {
	o := &composeControlOptions{}
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] [SERVICE...]",
		Short: "Stop the stack's running containers (dependents first)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, p, m, cs, err := o.open(cmd, g, args, false)
			if err != nil {
				return err
			}
			return stopContainers(ctx, g, m, p, cs, o.grace(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	cmd.Flags().IntVarP(&o.timeout, "timeout", "t", -1, "seconds to wait before killing (default: each service's stop_grace_period)")
	return cmd
}

func newComposeStartCmd(g *globalOptions) *cobra.Command {
	o := &composeControlOptions{}
	cmd := &cobra.Command{
		Use:   "start [SERVICE...]",
		Short: "Start the stack's stopped containers (an exited one is replaced: berth starts a container once)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, p, _, cs, err := o.open(cmd, g, args, true)
			if err != nil {
				return err
			}
			return startContainers(ctx, g, p, args, cs, cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	return cmd
}

func newComposeRestartCmd(g *globalOptions) *cobra.Command {
	o := &composeControlOptions{}
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] [SERVICE...]",
		Short: "Stop the stack's containers and run them again (as new containers of the same names)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, p, m, cs, err := o.open(cmd, g, args, true)
			if err != nil {
				return err
			}
			if err := stopContainers(ctx, g, m, p, cs, o.grace(), cmd.ErrOrStderr()); err != nil {
				return err
			}
			return startContainers(ctx, g, p, args, cs, cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	cmd.Flags().IntVarP(&o.timeout, "timeout", "t", -1, "seconds to wait before killing (default: each service's stop_grace_period)")
	return cmd
}

func newComposeKillCmd(g *globalOptions) *cobra.Command {
	o := &composeControlOptions{}
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] [SERVICE...]",
		Short: "Send a signal to the stack's running containers (SIGKILL by default)",
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := runtime.ParseSignal(o.signal)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			_, _, m, cs, err := o.open(cmd, g, args, false)
			if err != nil {
				return err
			}
			var errs []error
			for _, c := range cs {
				if !c.State.Running {
					continue
				}
				progress(cmd.ErrOrStderr(), c, "Killing")
				if err := m.Kill(c, sig); err != nil {
					errs = append(errs, fmt.Errorf("killing %s: %w", c.Name(), err))
					continue
				}
				progress(cmd.ErrOrStderr(), c, "Killed")
			}
			return errors.Join(errs...)
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	cmd.Flags().StringVarP(&o.signal, "signal", "s", "SIGKILL", "signal to send")
	return cmd
}

func newComposeRmCmd(g *globalOptions) *cobra.Command {
	o := &composeControlOptions{}
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] [SERVICE...]",
		Short: "Remove the stack's stopped containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, p, m, cs, err := o.open(cmd, g, args, false)
			if err != nil {
				return err
			}
			errOut := cmd.ErrOrStderr()
			if o.stop {
				if err := stopContainers(ctx, g, m, p, cs, -1, errOut); err != nil {
					return err
				}
			}
			var gone []*runtime.Container
			for _, c := range cs {
				if fresh, err := m.Get(c.ID); err == nil && !fresh.State.Running {
					gone = append(gone, fresh)
				}
			}
			if len(gone) == 0 {
				fmt.Fprintln(errOut, "No stopped containers")
				return nil
			}
			if !o.force && !confirmRemoval(cmd.InOrStdin(), errOut, gone) {
				return nil
			}
			var errs []error
			for _, c := range gone {
				progress(errOut, c, "Removing")
				if err := m.Remove(ctx, c, false); err != nil {
					errs = append(errs, fmt.Errorf("removing %s: %w", c.Name(), err))
					continue
				}
				detachContainer(g, c)
				if o.volumes {
					removeAnonymousVolumes(g, m, c)
				}
				progress(errOut, c, "Removed")
			}
			return errors.Join(errs...)
		},
	}
	registerStackFlags(cmd, &o.stack, false) // -f is --force here, as in docker compose rm
	f := cmd.Flags()
	f.BoolVarP(&o.force, "force", "f", false, "don't ask to confirm the removal")
	f.BoolVarP(&o.stop, "stop", "s", false, "stop running containers first")
	f.BoolVarP(&o.volumes, "volumes", "v", false, "also remove the containers' anonymous volumes")
	return cmd
}

// confirmRemoval asks, as docker compose rm does; only "y" removes.
func confirmRemoval(in io.Reader, w io.Writer, cs []*runtime.Container) bool {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name()
	}
	fmt.Fprintf(w, "Going to remove %s\nAre you sure? [yN] ", strings.Join(names, ", "))
	answer, _ := bufio.NewReader(in).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(answer), "y")
}

// newComposePauseCmd is docker compose pause and unpause: the services'
// running containers are frozen (runtime/pause.go), or the paused ones
// thawed. The engine counts a paused replica as running, so it neither
// replaces it nor starts another.
func newComposePauseCmd(g *globalOptions, verb string) *cobra.Command {
	o := &composeControlOptions{}
	short := "Pause the stack's running containers (berth compose unpause resumes them)"
	if verb == "unpause" {
		short = "Unpause the stack's paused containers"
	}
	cmd := &cobra.Command{
		Use:   verb + " [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, m, cs, err := o.open(cmd, g, args, false)
			if err != nil {
				return err
			}
			return pauseContainers(m, cs, verb == "pause", cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	return cmd
}

// pauseContainers pauses the running containers of cs (pause), or
// unpauses the paused ones, with compose's progress lines.
func pauseContainers(m *runtime.Manager, cs []*runtime.Container, pause bool, errOut io.Writer) error {
	var errs []error
	for _, c := range cs {
		if pause && (!c.State.Running || c.State.Paused) || !pause && !c.State.Paused {
			continue
		}
		if pause {
			progress(errOut, c, "Pausing")
			if err := m.Pause(c); err != nil {
				errs = append(errs, err)
				continue
			}
			progress(errOut, c, "Paused")
			continue
		}
		progress(errOut, c, "Unpausing")
		if err := m.Unpause(c); err != nil {
			errs = append(errs, err)
			continue
		}
		progress(errOut, c, "Unpaused")
	}
	return errors.Join(errs...)
}

// open finds the project and the containers of the services asked for.
func (o *composeControlOptions) open(cmd *cobra.Command, g *globalOptions, services []string, needFile bool) (context.Context, *composeProject, *runtime.Manager, []*runtime.Container, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := resolveProject(ctx, &o.stack, needFile, cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	m, err := newManager(g)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cs, err := p.containers(m, services)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return ctx, p, m, cs, nil
}

func (o *composeControlOptions) grace() time.Duration {
	if o.timeout < 0 {
		return -1
	}
	return time.Duration(o.timeout) * time.Second
}

func progress(w io.Writer, c *runtime.Container, status string) {
	fmt.Fprintf(w, " Container %s  %s\n", c.Name(), status)
}

// stopContainers stops the running ones of cs, dependents before what
// they depend on (the file's start order, reversed), each service's
// replicas together. grace < 0: each container's own.
func stopContainers(ctx context.Context, g *globalOptions, m *runtime.Manager, p *composeProject, cs []*runtime.Container, grace time.Duration, w io.Writer) error {
	for _, group := range stopGroups(p, cs) {
		var wg sync.WaitGroup
		errs := make([]error, len(group))
		for i, c := range group {
			if !c.State.Running {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				progress(w, c, "Stopping")
				if err := m.Stop(ctx, c, grace); err != nil {
					errs[i] = fmt.Errorf("stopping %s: %w", c.Name(), err)
					return
				}
				detachContainer(g, c) // as berth stop does: a stopped container keeps no address
				progress(w, c, "Stopped")
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// stopGroups orders cs for stopping: with the stack file, services in
// reverse start order (those the file no longer has first); without, all
// at once.
func stopGroups(p *composeProject, cs []*runtime.Container) [][]*runtime.Container {
	if p.st == nil {
		return [][]*runtime.Container{cs}
	}
	order := p.st.StartOrder()
	slices.Reverse(order)
	rank := map[string]int{}
	for i, s := range order {
		rank[s] = i + 1
	}
	groups := make([][]*runtime.Container, len(order)+1)
	for _, c := range cs {
		r := rank[serviceOf(c)]
		groups[r] = append(groups[r], c)
	}
	return groups
}

// startContainers runs the stopped containers of cs again through the
// scheduler: berth's runtime starts a container once, so an exited
// replica is replaced by a new one of its name, and a created one is
// started. The services keep the number of replicas they have (a
// --scale stays), and a changed file recreates nothing: start is not up.
func startContainers(ctx context.Context, g *globalOptions, p *composeProject, services []string, cs []*runtime.Container, w io.Writer) error {
	if len(cs) == 0 {
		what := "the stack"
		if len(services) > 0 {
			what = "service " + strings.Join(services, ", ")
		}
		return fmt.Errorf("%s has no container to start; create them with berth compose up -d", what)
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	count := map[string]int{}
	var stopped []string
	for _, c := range cs {
		if c.Config.Labels[scheduler.LabelOneoff] == "True" {
			continue
		}
		svc := serviceOf(c)
		count[svc]++
		fresh, err := m.Get(c.ID)
		if err == nil && !fresh.State.Running && !slices.Contains(stopped, svc) {
			stopped = append(stopped, svc)
		}
	}
	if len(stopped) == 0 {
		return nil // all running
	}
	// The engine carries it out, as it does up: one pass at a time.
	engine, err := ensureEngine(ctx, g)
	if err != nil {
		return err
	}
	req := api.UpRequest{Stack: p.st, Services: stopped, Scale: count, NoRecreate: true}
	res, err := engine.Up(ctx, req, apiProgress(w))
	for _, warn := range res.Warnings {
		fmt.Fprintln(w, "warning: "+warn)
	}
	return err
}
