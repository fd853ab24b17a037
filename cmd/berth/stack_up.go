//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/scheduler/api"
	"github.com/berthproject/berth/spec"
)

// up and down hand the stack to the engine (berth daemon, started when
// none runs), which carries out the pass and then keeps the stack up;
// --dry-run plans here, reading only. A foreground up follows the logs
// here, and its Ctrl-C stops the containers as `berth stop` would, so
// the engine leaves them stopped.

type upOptions struct {
	stack                                    stackOptions
	detach, dryRun, build, noStart           bool
	forceRecreate, noRecreate, removeOrphans bool
	scale                                    []string
	wait                                     bool
	waitTimeout                              int
	watch                                    bool
}

func newUpCmd(g *globalOptions) *cobra.Command {
	o := &upOptions{}
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start the stack's containers (docker compose up)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.stack.register(cmd)
	f := cmd.Flags()
	f.BoolVarP(&o.detach, "detach", "d", false, "start the containers and return, instead of following their logs")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan, with the reason for each step, and change nothing")
	f.BoolVar(&o.build, "build", false, "build images before starting containers")
	f.BoolVar(&o.noStart, "no-start", false, "create the containers but do not start them")
	f.BoolVar(&o.forceRecreate, "force-recreate", false, "recreate containers even if their configuration did not change")
	f.BoolVar(&o.noRecreate, "no-recreate", false, "keep containers whose configuration changed")
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "remove containers of services the stack file no longer has")
	f.StringArrayVar(&o.scale, "scale", nil, "SERVICE=NUM: run NUM replicas of SERVICE, whatever the file says")
	f.BoolVar(&o.wait, "wait", false, "wait until the services run and are healthy (implies -d)")
	f.IntVar(&o.waitTimeout, "wait-timeout", 0, "seconds --wait waits at most (0: no limit)")
	f.BoolVar(&o.watch, "watch", false, "follow develop.watch rules and the stack file while attached (see berth watch)")
	return cmd
}

func runUp(ctx context.Context, g *globalOptions, o *upOptions, services []string, out, errOut io.Writer) error {
	if o.forceRecreate && o.noRecreate {
		return &exitError{code: 2, err: errors.New("--force-recreate and --no-recreate cannot be combined")}
	}
	if o.watch && (o.detach || o.wait || o.noStart) {
		return &exitError{code: 2, err: errWatchDetached}
	}
	st, err := o.stack.load(ctx, errOut)
	if err != nil {
		return err
	}
	po := scheduler.PlanOptions{Services: services, ForceRecreate: o.forceRecreate, NoRecreate: o.noRecreate,
		NoStart: o.noStart, RemoveOrphans: o.removeOrphans, Build: o.build, Scale: map[string]int{}}
	if err := checkServices(st, services); err != nil {
		return err
	}
	for _, s := range o.scale {
		name, n, ok := strings.Cut(s, "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 {
			return &exitError{code: 2, err: fmt.Errorf("--scale %q is not SERVICE=NUM", s)}
		}
		if _, ok := st.Services[name]; !ok {
			return &exitError{code: 2, err: fmt.Errorf("--scale %s: the stack has no service %q", s, name)}
		}
		po.Scale[name] = count
	}
	if os.Geteuid() != 0 {
		return &exitError{code: 1, err: runtime.ErrNotRoot}
	}
	h, err := newStackHost(g, errOut)
	if err != nil {
		return err
	}
	sched := scheduler.New(h, progressPrinterFor(errOut))
	if o.dryRun {
		p, err := sched.Plan(ctx, st, po)
		if err != nil {
			return err
		}
		if len(p.Steps) == 0 {
			fmt.Fprintln(out, "nothing to do: the stack is up as its file says")
		}
		fmt.Fprint(out, p)
		return nil
	}
	engine, err := ensureEngine(ctx, g)
	if err != nil {
		return err
	}
	req := api.UpRequest{Stack: st, Services: po.Services, Scale: po.Scale, ForceRecreate: po.ForceRecreate,
		NoRecreate: po.NoRecreate, NoStart: po.NoStart, RemoveOrphans: po.RemoveOrphans, Build: po.Build}
	res, err := engine.Up(ctx, req, apiProgress(errOut))
	for _, w := range res.Warnings {
		fmt.Fprintln(errOut, "warning: "+w)
	}
	if err != nil {
		return err
	}
	if o.wait && !o.noStart {
		return waitUp(ctx, g, st, services, time.Duration(o.waitTimeout)*time.Second, errOut)
	}
	if o.detach || o.noStart {
		return nil
	}
	if !o.watch {
		return attach(ctx, g, h, st, out, errOut, nil)
	}
	// The watch runs beside the logs and ends at the first Ctrl-C, before
	// the stack is stopped.
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		// Said at once: the logs go on without the watch.
		if err := watchStack(wctx, g, api.WatchRequest{Stack: st, Load: o.stack.specOptions(), Services: services}, true, errOut); err != nil {
			fmt.Fprintf(errOut, "error: the watch stopped: %v\n", err)
		}
		close(watched)
	}()
	err = attach(ctx, g, h, st, out, errOut, stopWatch)
	stopWatch()
	<-watched
	return err
}

// apiProgress prints the engine's events as progressPrinterFor does.
func apiProgress(w io.Writer) func(api.Event) {
	print := progressPrinterFor(w)
	return func(e api.Event) {
		ev := scheduler.Event{Kind: e.Kind, Name: e.Name, Status: e.Status}
		if e.Error != "" {
			ev.Err = errors.New(e.Error)
		}
		print(ev)
	}
}

// progressPrinterFor prints the scheduler's events as Compose does when
// its output is not a terminal: " Container app-web-1  Started".
func progressPrinterFor(w io.Writer) func(scheduler.Event) {
	return func(e scheduler.Event) {
		if e.Err != nil {
			fmt.Fprintf(w, " %s %s  Error: %v\n", e.Kind, e.Name, e.Err)
			return
		}
		fmt.Fprintf(w, " %s %s  %s\n", e.Kind, e.Name, e.Status)
	}
}

// attach follows the logs of the stack's replicas with "service-n |"
// prefixes, picking up replicas the engine adds or replaces, until
// Ctrl-C, which stops the stack (a second Ctrl-C kills it), as docker
// compose up does.
func attach(ctx context.Context, g *globalOptions, h *stackHost, st *spec.Stack, out, errOut io.Writer, onStop func()) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)
	p := &composeProject{name: st.Name, st: st}
	cs, err := p.containers(h.m, nil)
	if err != nil {
		return err
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name())
	}
	fmt.Fprintf(out, "Attaching to %s\n", strings.Join(names, ", "))
	lp := &logPrinter{stdout: out, stderr: errOut, color: isTerminal(out), colors: map[string]string{}}
	lctx, stopLogs := context.WithCancel(ctx)
	followed := make(chan error, 1)
	go func() { followed <- followStack(lctx, h.m, p, nil, cs, -1, lp) }()
	select {
	case <-sigs:
	case <-ctx.Done():
	}
	if onStop != nil {
		onStop()
	}
	fmt.Fprintln(errOut, "Gracefully stopping... (press Ctrl+C again to force)")
	stopCtx, kill := context.WithCancel(context.Background())
	go func() {
		select {
		case <-sigs:
			kill()
		case <-stopCtx.Done():
		}
	}()
	err = stopStack(stopCtx, h, st, errOut)
	kill()
	stopLogs()
	<-followed
	return err
}

// stopStack stops every running replica of st; when ctx ends (a second
// Ctrl-C) the stop turns into SIGKILL at once.
func stopStack(ctx context.Context, h *stackHost, st *spec.Stack, errOut io.Writer) error {
	rs, err := h.Replicas(context.Background(), st.Name)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(rs))
	for i, r := range rs {
		if r.State != scheduler.StateRunning {
			continue
		}
		grace := spec.DefaultStopGracePeriod
		if svc, ok := st.Services[r.Service]; ok {
			grace = svc.StopGracePeriod
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(errOut, " Container %s  Stopping\n", r.Name)
			if errs[i] = h.Stop(ctx, r.ID, grace); errs[i] == nil {
				fmt.Fprintf(errOut, " Container %s  Stopped\n", r.Name)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

type downOptions struct {
	stack         stackOptions
	volumes       bool
	timeout       int
	removeOrphans bool
	rmi           string
}

func newDownCmd(g *globalOptions) *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:   "down [OPTIONS]",
		Short: "Stop and remove the stack's containers and networks (docker compose down)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.stack.load(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return &exitError{code: 1, err: runtime.ErrNotRoot}
			}
			engine, err := ensureEngine(cmd.Context(), g)
			if err != nil {
				return err
			}
			req := api.DownRequest{Stack: st, Volumes: o.volumes}
			if cmd.Flags().Changed("timeout") {
				req.Timeout = &o.timeout
			}
			if o.rmi != "" && o.rmi != "local" && o.rmi != "all" {
				return &exitError{code: 2, err: fmt.Errorf("--rmi %q: local or all", o.rmi)}
			}
			if _, err = engine.Down(cmd.Context(), req, apiProgress(cmd.ErrOrStderr())); err != nil {
				return err
			}
			if o.rmi != "" {
				return removeStackImages(g, st, o.rmi == "all", cmd.ErrOrStderr())
			}
			return nil
		},
	}
	o.stack.register(cmd)
	f := cmd.Flags()
	f.BoolVarP(&o.volumes, "volumes", "v", false, "also remove the stack's named volumes and its containers' anonymous ones")
	f.IntVarP(&o.timeout, "timeout", "t", 0, "seconds to wait for each container to stop before killing it (default: its stop_grace_period)")
	f.StringVar(&o.rmi, "rmi", "", `also remove the services' images: "local" those built without an image: name, "all" every one`)
	f.BoolVar(&o.removeOrphans, "remove-orphans", false, "accepted for compose's scripts: down removes every container of the stack, orphans too")
	return cmd
}

// waitUp waits until every replica of services (all when empty) runs
// and, if its health is checked, is healthy, as compose up --wait does.
// A replica that exits, or the timeout, fails it.
func waitUp(ctx context.Context, g *globalOptions, st *spec.Stack, services []string, timeout time.Duration, errOut io.Writer) error {
	h, err := newStackHost(g, errOut)
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	for {
		rs, err := h.Replicas(ctx, st.Name)
		if err != nil {
			return err
		}
		ready := true
		for _, r := range rs {
			if r.Oneoff || (len(want) > 0 && !want[r.Service]) {
				continue
			}
			svc, ok := st.Services[r.Service]
			if !ok {
				continue
			}
			switch {
			case r.State == scheduler.StateExited && svc.Restart.Name == spec.RestartNo && r.ExitCode == 0:
				// a job that did its work
			case r.State == scheduler.StateExited && svc.Restart.Name == spec.RestartNo:
				return fmt.Errorf("container %s exited with code %d", r.Name, r.ExitCode)
			case r.State != scheduler.StateRunning || (r.Health != "" && r.Health != runtime.HealthHealthy):
				ready = false
			}
		}
		if ready {
			fmt.Fprintln(errOut, " Stack "+st.Name+"  Ready")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("--wait: the stack was not ready within %v", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// removeStackImages is down --rmi: the images of st's services, those
// built under berth's own name (<stack>-<service>) or, with all, every
// one. An image another container still uses stays, with a warning.
func removeStackImages(g *globalOptions, st *spec.Stack, all bool, errOut io.Writer) error {
	s, err := newImageStore(g)
	if err != nil {
		return err
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	users, err := imageUsers(m)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, name := range st.ServiceNames() {
		svc := st.Services[name]
		if !all && svc.Image != "" {
			continue // named in the file: not the stack's own
		}
		ref := scheduler.ImageName(st, svc)
		if done[ref] {
			continue
		}
		done[ref] = true
		img, err := s.Get(ref)
		if err != nil {
			continue // not there: nothing to remove
		}
		if u := users[img.ID]; u != "" {
			fmt.Fprintf(errOut, "warning: image %s stays: container %s uses it\n", ref, u)
			continue
		}
		if err := s.Remove(ref); err != nil {
			return fmt.Errorf("removing image %s: %w", ref, err)
		}
		fmt.Fprintf(errOut, " Image %s  Removed\n", ref)
	}
	return nil
}
