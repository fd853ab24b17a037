package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/berthproject/berth/spec"
)

// Event is progress a pass reports: "Container app-web-1 Started", as
// Compose prints it.
type Event struct {
	Kind   string // "Container", "Network", "Image", "Service"
	Name   string
	Status string // "Creating", "Created", "Starting", ..., "Error"
	Err    error
}

// Scheduler makes hosts match stacks.
type Scheduler struct {
	host     Host
	progress func(Event)
	// progressMu serialises progress calls: steps run in parallel, and
	// the callback need not be safe for concurrent use.
	progressMu sync.Mutex
	// startChecks, set by the engine, starts the health checks of the
	// stack's running replicas: a service_healthy wait needs them to run.
	startChecks func()
	// beforeStart, set by the engine while berth watch runs, copies the
	// watched files into a new replica before it starts, so a replica
	// made during a watch (a restart, a scale up, a replacement) runs
	// what the host has, not what its image had.
	beforeStart func(ctx context.Context, service, id string) error
}

// New returns a scheduler acting on host and reporting to progress (nil:
// nowhere).
func New(host Host, progress func(Event)) *Scheduler {
	if progress == nil {
		progress = func(Event) {}
	}
	return &Scheduler{host: host, progress: progress}
}

func (s *Scheduler) event(step Step, status string, err error) {
	kind, name, _ := strings.Cut(step.Target, ":")
	s.progressMu.Lock()
	defer s.progressMu.Unlock()
	s.progress(Event{Kind: strings.ToUpper(kind[:1]) + kind[1:], Name: name, Status: status, Err: err})
}

// Plan observes the host and returns what Up would do.
func (s *Scheduler) Plan(ctx context.Context, st *spec.Stack, o PlanOptions) (Plan, error) {
	have, err := s.observe(ctx, st)
	if err != nil {
		return Plan{}, err
	}
	return planFor(st, have, o), nil
}

// Up makes the host match st. Calling it again with nothing changed plans
// no step, so it is safe to run on every start and after every failure.
// It returns the plan it carried out (its warnings included).
func (s *Scheduler) Up(ctx context.Context, st *spec.Stack, o PlanOptions) (Plan, error) {
	have, err := s.observe(ctx, st)
	if err != nil {
		return Plan{}, err
	}
	p := planFor(st, have, o)
	return p, s.apply(ctx, st, have, p)
}

// DownOptions are `down`'s flags.
type DownOptions struct {
	// Volumes removes the stack's named volumes and its containers'
	// anonymous ones (-v).
	Volumes bool
	// Timeout, when set, replaces every service's stop grace period (-t).
	Timeout *int
	// RemoveOrphans also takes containers of services the file no
	// longer has (they go anyway: down removes the whole stack's).
	RemoveOrphans bool
}

// VolumeRemover is the part of a host that removes volumes, for down -v.
type VolumeRemover interface {
	RemoveVolume(ctx context.Context, name string) error
}

// Down stops and removes every container of st (dependents first), then
// the stack's networks, and with Volumes its named volumes.
func (s *Scheduler) Down(ctx context.Context, st *spec.Stack, o DownOptions) error {
	rs, err := s.host.Replicas(ctx, st.Name)
	if err != nil {
		return fmt.Errorf("listing the containers of stack %q: %w", st.Name, err)
	}
	// Dependents first, in waves: services nothing depends on (and
	// containers of services the file no longer has) together, then the
	// services only those depend on, and so on. Services that do not
	// depend on each other stop at once, each with its own grace period,
	// not one grace period after the other.
	wave := stopWaves(st)
	last := 0
	for _, w := range wave {
		last = max(last, w)
	}
	byWave := map[int][]Replica{}
	for _, r := range rs {
		byWave[wave[r.Service]] = append(byWave[wave[r.Service]], r)
	}
	for i := 0; i <= last; i++ {
		g, gctx := errgroup.WithContext(ctx)
		for _, r := range byWave[i] {
			g.Go(func() error { return s.takeDown(gctx, st, r, o) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	var errs []error
	for _, key := range sortedKeys(st.Networks) {
		nw := st.Networks[key]
		if nw.External {
			continue
		}
		step := Step{Op: OpRemove, Target: "network:" + nw.Name}
		exists, err := s.host.Networks(ctx, []string{nw.Name})
		if err != nil {
			return err
		}
		if !exists[nw.Name] {
			continue
		}
		s.event(step, "Removing", nil)
		if err := s.host.RemoveNetwork(ctx, nw.Name); err != nil {
			s.event(step, "Error", err)
			errs = append(errs, fmt.Errorf("removing network %s: %w", nw.Name, err))
			continue
		}
		s.event(step, "Removed", nil)
	}
	if o.Volumes {
		vr, ok := s.host.(VolumeRemover)
		if !ok {
			return errors.Join(append(errs, fmt.Errorf("removing volumes: %w", ErrNotImplemented))...)
		}
		for _, key := range sortedKeys(st.Volumes) {
			v := st.Volumes[key]
			if v.External {
				continue
			}
			step := Step{Op: OpRemove, Target: "volume:" + v.Name}
			s.event(step, "Removing", nil)
			if err := vr.RemoveVolume(ctx, v.Name); err != nil {
				s.event(step, "Error", err)
				errs = append(errs, fmt.Errorf("removing volume %s: %w", v.Name, err))
				continue
			}
			s.event(step, "Removed", nil)
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) takeDown(ctx context.Context, st *spec.Stack, r Replica, o DownOptions) error {
	target := "container:" + r.Name
	grace := spec.DefaultStopGracePeriod
	if svc, ok := st.Services[r.Service]; ok {
		grace = svc.StopGracePeriod
	}
	if o.Timeout != nil {
		grace = time.Duration(*o.Timeout) * time.Second
	}
	if r.State == StateRunning {
		step := Step{Op: OpStop, Target: target, ID: r.ID}
		s.event(step, "Stopping", nil)
		if err := s.host.Stop(ctx, r.ID, grace); err != nil {
			s.event(step, "Error", err)
			return fmt.Errorf("stopping %s: %w", r.Name, err)
		}
		s.event(step, "Stopped", nil)
	}
	step := Step{Op: OpRemove, Target: target, ID: r.ID}
	s.event(step, "Removing", nil)
	if err := s.host.Remove(ctx, r.ID, o.Volumes); err != nil {
		s.event(step, "Error", err)
		return fmt.Errorf("removing %s: %w", r.Name, err)
	}
	s.event(step, "Removed", nil)
	return nil
}

// stopWaves numbers the services for down: 0 for those no service
// depends on, else one more than the highest of their dependents.
func stopWaves(st *spec.Stack) map[string]int {
	dependents := map[string][]string{}
	for name, svc := range st.Services {
		for d := range svc.DependsOn {
			dependents[d] = append(dependents[d], name)
		}
	}
	wave := map[string]int{}
	var of func(name string, seen map[string]bool) int
	of = func(name string, seen map[string]bool) int {
		if w, ok := wave[name]; ok {
			return w
		}
		if seen[name] {
			return 0 // a cycle; spec refuses them, so this is only a guard
		}
		seen[name] = true
		w := 0
		for _, d := range dependents[name] {
			w = max(w, of(d, seen)+1)
		}
		wave[name] = w
		return w
	}
	for name := range st.Services {
		of(name, map[string]bool{})
	}
	return wave
}
