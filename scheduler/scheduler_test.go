package scheduler

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/spec"
)

func TestUp_ThenUpAgainDoesNothing_ThenDown(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost()
	st := stack(svc("web", "nginx", replicas(3), dependsOn("db", spec.ConditionStarted)), svc("db", "postgres"))
	st.Volumes = map[string]*spec.Volume{"data": {Name: "app_data"}}
	var events []string
	s := New(h, func(e Event) { events = append(events, e.Kind+" "+e.Name+" "+e.Status) })

	if _, err := s.Up(ctx, st, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create app-db-1", "create app-web-1", "create app-web-2", "create app-web-3", "create-network app_default",
		"pull nginx", "pull postgres",
		"start app-db-1", "start app-web-1", "start app-web-2", "start app-web-3",
	}
	if got := h.takeCalls(); !slices.Equal(got, want) {
		t.Errorf("up made calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Contains(events, "Container app-web-2 Started") {
		t.Errorf("no Started event for app-web-2 in %q", events)
	}
	// db started before any web replica was created.
	startDB := slices.Index(events, "Container app-db-1 Started")
	for i, e := range events {
		if strings.HasPrefix(e, "Container app-web-") && strings.HasSuffix(e, " Creating") && i < startDB {
			t.Errorf("%q came before db was started", e)
		}
	}

	p, err := s.Up(ctx, st, PlanOptions{})
	if err != nil || len(p.Steps) != 0 {
		t.Fatalf("a second up planned %d steps (%v):\n%s", len(p.Steps), err, p)
	}
	if got := h.takeCalls(); len(got) != 0 {
		t.Errorf("a second up made calls: %q", got)
	}

	if err := s.Down(ctx, st, DownOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	calls := h.takeCalls()
	if len(h.ctrs) != 0 || h.networks["app_default"] || !slices.Contains(calls, "remove-volume app_data") {
		t.Errorf("after down: %d containers, networks %v, calls %q", len(h.ctrs), h.networks, calls)
	}
}

// An up cut short (the engine killed between creates) is finished by the
// next one: every replica once, none twice.
func TestUp_InterruptedThenFinished(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost()
	h.failCreateAfter = 12
	st := stack(svc("web", "nginx", replicas(30)))
	s := New(h, nil)
	if _, err := s.Up(ctx, st, PlanOptions{}); err == nil {
		t.Fatal("the cut-short up reported no error")
	}
	h.failCreateAfter = 0
	if _, err := s.Up(ctx, st, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	rs, _ := h.Replicas(ctx, "app")
	seen := map[int]bool{}
	for _, r := range rs {
		if seen[r.Number] {
			t.Errorf("replica %d twice", r.Number)
		}
		seen[r.Number] = true
		if r.State != StateRunning {
			t.Errorf("%s is %s", r.Name, r.State)
		}
	}
	if len(seen) != 30 {
		t.Errorf("%d replicas, want 30", len(seen))
	}
	if p, _ := s.Plan(ctx, st, PlanOptions{}); len(p.Steps) != 0 {
		t.Errorf("after converging, a plan still has steps:\n%s", p)
	}
}

// A service whose image cannot be pulled fails, with its dependents; the
// services that do not need it come up whole, not cut off half-way.
func TestUp_AFailedPullFailsItsServiceOnly(t *testing.T) {
	ctx := context.Background()
	h := newFakeHost()
	h.failPull = "nosuch:1"
	st := stack(
		svc("api", "nosuch:1"),
		svc("web", "nginx", replicas(3), dependsOn("api", spec.ConditionStarted)),
		svc("db", "postgres", replicas(2)),
		svc("cache", "redis"),
	)
	_, err := New(h, nil).Up(ctx, st, PlanOptions{})
	if err == nil || !strings.Contains(err.Error(), "pull image:nosuch:1: pulling nosuch:1: not found") {
		t.Fatalf("up = %v, want the failed pull", err)
	}
	rs, _ := h.Replicas(ctx, "app")
	running := map[string]int{}
	for _, r := range rs {
		if r.State != StateRunning {
			t.Errorf("%s is %s, want running", r.Name, r.State)
		}
		running[r.Service]++
	}
	if want := map[string]int{"db": 2, "cache": 1}; !maps.Equal(running, want) {
		t.Errorf("running replicas by service %v, want %v (api failed, web needs it)", running, want)
	}
}

func TestUp_HealthyConditionNeedsAHealthcheck(t *testing.T) {
	h := newFakeHost()
	st := stack(svc("web", "nginx", dependsOn("db", spec.ConditionHealthy)), svc("db", "postgres"))
	_, err := New(h, nil).Up(context.Background(), st, PlanOptions{})
	if err == nil || !strings.Contains(err.Error(), `service "db" has no healthcheck`) {
		t.Fatalf("err = %v", err)
	}
	for _, c := range h.takeCalls() {
		if strings.Contains(c, "app-web") {
			t.Errorf("web was touched although db can never be healthy: %s", c)
		}
	}
}

func TestUp_CompletedDependency(t *testing.T) {
	h := newFakeHost()
	migrate := svc("migrate", "tool")
	st := stack(svc("web", "nginx", dependsOn("migrate", spec.ConditionCompleted)), migrate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := New(h, nil).Up(ctx, st, PlanOptions{}); done <- err }()
	// The job runs, then exits 0: web follows.
	for {
		rs, _ := h.Replicas(ctx, "app")
		if len(rs) == 1 && rs[0].State == StateRunning {
			h.mu.Lock()
			c := h.ctrs[rs[0].ID]
			c.State, c.ExitCode = StateExited, 0
			h.mu.Unlock()
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rs, _ := h.Replicas(ctx, "app")
	if len(rs) != 2 {
		t.Fatalf("replicas %+v", rs)
	}
	// The job that did its work is not started again.
	if p, _ := New(h, nil).Plan(ctx, st, PlanOptions{}); len(p.Steps) != 0 {
		t.Errorf("plan after the job completed:\n%s", p)
	}
}
