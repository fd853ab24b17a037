package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/spec"
)

// maxParallel bounds the steps that run at once: creating a container is
// mostly waiting on the kernel (namespaces, veth pairs, mounts), and more
// than a few at once only queue there.
const maxParallel = 8

// waitPoll is how often a wait step looks at its service again.
const waitPoll = 100 * time.Millisecond

// apply carries p out: each step once the steps it comes after are done,
// up to maxParallel at once. A failed step fails the steps that come
// after it (a replica's start, the services that depend on it), not the
// others: one service whose image cannot be pulled, or whose container
// cannot be made, leaves the rest of the stack up as its file says
// rather than cut off half-way. The failures are returned together; the
// next pass plans what is left.
func (s *Scheduler) apply(ctx context.Context, st *spec.Stack, have Observed, p Plan) error {
	var wg sync.WaitGroup
	done := make([]chan struct{}, len(p.Steps))
	for i := range done {
		done[i] = make(chan struct{})
	}
	// failed[i] is written before done[i] is closed and read after, so
	// the channel orders the two.
	failed := make([]bool, len(p.Steps))
	var mu sync.Mutex
	errs := make([]error, len(p.Steps)) // each failed step's, in plan order
	ids := make([]string, len(p.Steps)) // the container each create made
	sem := make(chan struct{}, maxParallel)
	for i, step := range p.Steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[i])
			for _, a := range step.After {
				select {
				case <-done[a]:
				case <-ctx.Done():
					failed[i] = true
					return
				}
				if failed[a] {
					failed[i] = true // what it needs failed: that error is returned
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				failed[i] = true
				return
			}
			defer func() { <-sem }()
			if step.ID == "" && (step.Op == OpStart || step.Op == OpWaitReady) {
				// A new replica: the create (or start) it comes after made it.
				mu.Lock()
				for _, a := range step.After {
					if ids[a] != "" {
						step.ID = ids[a]
					}
				}
				mu.Unlock()
			}
			id, err := s.do(ctx, st, have, step)
			if err != nil {
				s.event(step, "Error", err)
				failed[i] = true
				errs[i] = fmt.Errorf("%s %s: %w", step.Op, strings.TrimPrefix(step.Target, "container:"), err)
				return
			}
			if id == "" && (step.Op == OpStart || step.Op == OpWaitReady) {
				id = step.ID // passed on to the steps after
			}
			mu.Lock()
			ids[i] = id
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err() // cancelled before every step ran: not applied
}

// do carries out one step; for a create it returns the new container's id.
func (s *Scheduler) do(ctx context.Context, st *spec.Stack, have Observed, step Step) (string, error) {
	svc := st.Services[step.Service]
	switch step.Op {
	case OpCreateNetwork:
		s.event(step, "Creating", nil)
		if err := s.host.CreateNetwork(ctx, st.Networks[step.Network]); err != nil {
			return "", err
		}
		s.event(step, "Created", nil)
	case OpPull:
		s.event(step, "Pulling", nil)
		if err := s.host.Pull(ctx, svc.Image); err != nil {
			return "", err
		}
		s.event(step, "Pulled", nil)
	case OpBuild:
		s.event(step, "Building", nil)
		if err := s.host.Build(ctx, st, svc, ImageName(st, svc)); err != nil {
			return "", err
		}
		s.event(step, "Built", nil)
	case OpCreate:
		imageID, err := s.host.ImageID(ctx, ImageName(st, svc))
		if err != nil {
			return "", err
		}
		c, err := containerSpec(st, svc, step.Number, imageID, step.Restart)
		if err != nil {
			return "", err
		}
		s.event(step, "Creating", nil)
		id, err := s.host.Create(ctx, c)
		if err != nil {
			return "", err
		}
		s.event(step, "Created", nil)
		return id, nil
	case OpStart:
		if s.beforeStart != nil {
			if err := s.beforeStart(ctx, step.Service, step.ID); err != nil {
				return "", err
			}
		}
		s.event(step, "Starting", nil)
		if err := s.host.Start(ctx, step.ID); err != nil {
			return "", err
		}
		s.event(step, "Started", nil)
	case OpStop:
		s.event(step, "Stopping", nil)
		grace := spec.DefaultStopGracePeriod
		if svc != nil {
			grace = svc.StopGracePeriod
		}
		if err := s.host.Stop(ctx, step.ID, grace); err != nil {
			return "", err
		}
		s.event(step, "Stopped", nil)
	case OpRemove:
		s.event(step, "Removing", nil)
		// A replaced or scaled-down replica's anonymous volumes go with
		// it. (Compose hands them to the replica that replaces it; berth
		// does not yet.)
		if err := s.host.Remove(ctx, step.ID, true); err != nil {
			return "", err
		}
		s.event(step, "Removed", nil)
	case OpWait:
		s.event(step, "Waiting", nil)
		if err := s.wait(ctx, st, step); err != nil {
			return "", err
		}
		s.event(step, condWord(step.Condition), nil)
	case OpRename:
		if err := s.host.Rename(ctx, step.ID, step.NewName); err != nil {
			return "", err
		}
		s.event(step, "Renamed", nil)
	case OpWaitReady:
		s.event(step, "Waiting", nil)
		if err := s.waitReady(ctx, step.ID); err != nil {
			return "", err
		}
		s.event(step, "Ready", nil)
	case OpDrain:
		s.event(step, "Draining", nil)
		if err := s.host.Drain(ctx, step.ID); err != nil {
			return "", err
		}
	case OpDelay:
		s.event(step, "Waiting", nil)
		select {
		case <-time.After(step.Delay):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	default:
		return "", fmt.Errorf("unknown step %q", step.Op)
	}
	return "", nil
}

// waitReady waits until the container id runs and, if its health is
// checked, is healthy.
func (s *Scheduler) waitReady(ctx context.Context, id string) error {
	for {
		if s.startChecks != nil {
			s.startChecks()
		}
		exited, code, err := s.host.Exited(ctx, id)
		if err != nil {
			return err
		}
		if exited {
			return fmt.Errorf("the new replica exited with code %d before it was ready; the old one keeps running", code)
		}
		ok, err := s.host.Healthy(ctx, id)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

func condWord(c string) string {
	if c == spec.ConditionCompleted {
		return "Exited"
	}
	return "Healthy"
}

// wait waits until every replica of the step's service meets its
// condition: healthy, or exited with code 0.
func (s *Scheduler) wait(ctx context.Context, st *spec.Stack, step Step) error {
	svc := st.Services[step.Service]
	if step.Condition == spec.ConditionHealthy && (svc.Healthcheck == nil || svc.Healthcheck.Disable) {
		return fmt.Errorf("service %q has no healthcheck, so depends_on condition %s can never be met; give it a healthcheck or use condition %s", svc.Name, spec.ConditionHealthy, spec.ConditionStarted)
	}
	for {
		if s.startChecks != nil && step.Condition == spec.ConditionHealthy {
			s.startChecks()
		}
		rs, err := s.host.Replicas(ctx, st.Name)
		if err != nil {
			return err
		}
		met, err := s.conditionMet(ctx, rs, step)
		if err != nil || met {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(waitPoll):
		}
	}
}

func (s *Scheduler) conditionMet(ctx context.Context, rs []Replica, step Step) (bool, error) {
	seen := false
	for _, r := range rs {
		if r.Service != step.Service || r.Oneoff {
			continue
		}
		seen = true
		switch step.Condition {
		case spec.ConditionCompleted:
			exited, code, err := s.host.Exited(ctx, r.ID)
			if err != nil {
				return false, err
			}
			if exited && code != 0 {
				return false, &DependencyFailedError{Service: step.Service, Container: r.Name, ExitCode: code}
			}
			if !exited {
				return false, nil
			}
		default:
			if r.State == StateExited {
				return false, &DependencyFailedError{Service: step.Service, Container: r.Name, ExitCode: r.ExitCode}
			}
			ok, err := s.host.Healthy(ctx, r.ID)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	return seen, nil
}

// DependencyFailedError is a depends_on condition that cannot be met any
// more: the dependency exited (with a failure, for
// service_completed_successfully).
type DependencyFailedError struct {
	Service   string
	Container string
	ExitCode  int
}

func (e *DependencyFailedError) Error() string {
	return fmt.Sprintf("dependency %q failed: container %s exited with code %d", e.Service, e.Container, e.ExitCode)
}

// ErrNotImplemented is returned for what the host cannot do yet.
var ErrNotImplemented = errors.New("not implemented yet")
