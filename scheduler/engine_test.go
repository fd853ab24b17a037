package scheduler

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/berthproject/berth/spec"
)

func startEngine(t *testing.T, h *fakeHost, dir string) *Engine {
	t.Helper()
	store, err := OpenStackStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(h, store, nil)
	e.Resync = time.Hour // only exits and timers wake it in these tests
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for { // Run has set its context once loops can start
		e.mu.Lock()
		ready := e.ctx != nil
		e.mu.Unlock()
		if ready {
			return e
		}
		time.Sleep(time.Millisecond)
	}
}

// running waits until the replica name runs in a container other than
// old, and returns its id.
func running(t *testing.T, h *fakeHost, name, old string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		rs, _ := h.Replicas(context.Background(), "app")
		for _, r := range rs {
			if r.Name == name && r.State == StateRunning && r.ID != old {
				return r.ID
			}
		}
	}
	t.Fatalf("%s was not replaced", name)
	return ""
}

func TestEngine_RestartsWhatExits(t *testing.T) {
	h := newFakeHost()
	e := startEngine(t, h, t.TempDir())
	always := func(s *spec.Service) { s.Restart = spec.RestartPolicy{Name: spec.RestartAlways} }
	st := stack(svc("web", "nginx", replicas(2), always), svc("job", "tool"))
	if _, err := e.Up(context.Background(), st, PlanOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	old := h.crash("app-web-2", 137)
	id := running(t, h, "app-web-2", old)
	rs, _ := h.Replicas(context.Background(), "app")
	for _, r := range rs {
		if r.ID == id && r.Restart.Count != 1 {
			t.Errorf("the new replica's restart count is %d", r.Restart.Count)
		}
	}

	// restart: no stays down; a replica stopped by someone stays down.
	h.crash("app-job-1", 1)
	stopped := running(t, h, "app-web-1", "")
	if err := h.Stop(context.Background(), stopped, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	rs, _ = h.Replicas(context.Background(), "app")
	for _, r := range rs {
		if (r.Name == "app-job-1" || r.Name == "app-web-1") && r.State != StateExited {
			t.Errorf("%s was restarted: %+v", r.Name, r)
		}
	}

	if err := e.Down(context.Background(), st, DownOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if len(h.ctrs) != 0 {
		t.Errorf("%d containers after down", len(h.ctrs))
	}
}

// A new engine finishes the up a killed one left half done.
func TestEngine_FinishesAnInterruptedUp(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHost()
	st := stack(svc("web", "nginx", replicas(5)))
	store, _ := OpenStackStore(dir)
	if err := store.Save(StackRecord{Stack: st}); err != nil {
		t.Fatal(err)
	}
	h.failCreateAfter = 2
	if _, err := New(h, nil).Up(context.Background(), st, PlanOptions{}); err == nil {
		t.Fatal("no error from the cut-short up")
	}
	h.failCreateAfter = 0
	startEngine(t, h, dir)
	for n := 1; n <= 5; n++ {
		running(t, h, "app-web-"+string(rune('0'+n)), "")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if rec, _ := store.Load("app"); rec.Applied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the record is not marked applied")
		}
	}
}

// The stack a record keeps has the config hash it was saved with: the
// engine recreates nothing after a restart because of JSON.
func TestStackRecord_KeepsTheConfigHash(t *testing.T) {
	st := stack(svc("web", "nginx", replicas(2), func(s *spec.Service) {
		s.Command = []string{}
		s.Environment = map[string]string{"A": "1"}
		s.Ports = []spec.PortBinding{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
		s.StopGracePeriod = 3 * time.Second
	}))
	b, err := json.Marshal(StackRecord{Stack: st})
	if err != nil {
		t.Fatal(err)
	}
	var back StackRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got, want := back.Stack.Services["web"].ConfigHash(), st.Services["web"].ConfigHash(); got != want {
		t.Errorf("hash after a round trip %s, before %s", got, want)
	}
}

// A down cut short by a killed engine is finished by the next one, not
// undone.
func TestEngine_FinishesAnInterruptedDown(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHost()
	st := stack(svc("web", "nginx", replicas(3)))
	if _, err := New(h, nil).Up(context.Background(), st, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	store, _ := OpenStackStore(dir)
	if err := store.Save(StackRecord{Stack: st, Applied: true, Removing: true, Down: &DownOptions{}}); err != nil {
		t.Fatal(err)
	}
	startEngine(t, h, dir)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		names, _ := store.List()
		h.mu.Lock()
		left := len(h.ctrs)
		h.mu.Unlock()
		if left == 0 && len(names) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d containers and stacks %q left", left, names)
		}
	}
}

// service_healthy waits for the dependency's health check, which the
// engine runs; unhealthy replicas are replaced when the service asks.
func TestEngine_HealthChecks(t *testing.T) {
	h := newFakeHost()
	e := startEngine(t, h, t.TempDir())
	db := svc("db", "postgres", func(s *spec.Service) {
		s.Healthcheck = &spec.Healthcheck{Test: []string{"CMD", "true"}}
		s.Labels = map[string]string{LabelRestartUnhealthy: "true"}
	})
	st := stack(svc("web", "nginx", dependsOn("db", spec.ConditionHealthy)), db)
	done := make(chan error, 1)
	go func() { _, err := e.Up(context.Background(), st, PlanOptions{}, nil); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("up waited for ever for db to be healthy")
	}
	old := running(t, h, "app-db-1", "")
	h.mu.Lock()
	h.ctrs[old].Health = "unhealthy"
	h.mu.Unlock()
	// The next check reports it and the engine replaces it.
	running(t, h, "app-db-1", old)
}

// An up of one service keeps that one (and what it depends on) up; the
// engine does not bring up the rest of the stack behind the user's back.
func TestEngine_UpOfSomeServicesKeepsToThem(t *testing.T) {
	h := newFakeHost()
	e := startEngine(t, h, t.TempDir())
	always := func(s *spec.Service) { s.Restart = spec.RestartPolicy{Name: spec.RestartAlways} }
	st := stack(svc("web", "nginx", always, dependsOn("db", spec.ConditionStarted)), svc("db", "postgres", always), svc("cache", "redis", always))
	if _, err := e.Up(context.Background(), st, PlanOptions{Services: []string{"web"}}, nil); err != nil {
		t.Fatal(err)
	}
	old := h.crash("app-web-1", 1)
	running(t, h, "app-web-1", old) // a heal pass ran
	rs, _ := h.Replicas(context.Background(), "app")
	for _, r := range rs {
		if r.Service == "cache" {
			t.Errorf("the engine started %s, which no up asked for", r.Name)
		}
	}
	// An up of all of it keeps all of it.
	if _, err := e.Up(context.Background(), st, PlanOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.store.Load("app"); len(rec.Services) != 0 {
		t.Errorf("after an up of all, the record keeps %v", rec.Services)
	}
}

// A request that reaches the engine before Run has started waits for it
// (the daemon serves its socket as Run starts): it once panicked on a
// nil context, which the client saw as an EOF.
func TestEngine_UpBeforeRun(t *testing.T) {
	h := newFakeHost()
	store, _ := OpenStackStore(t.TempDir())
	e := NewEngine(h, store, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = e.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := e.Up(context.Background(), stack(svc("web", "nginx")), PlanOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	running(t, h, "app-web-1", "")
}

// A heal pass that keeps failing is tried again after 1, 2, 4 ... s, at
// most a minute apart.
func TestHealRetry_BacksOff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for n, w := range want {
		if got := healRetry(n); got != w {
			t.Errorf("healRetry(%d) = %v, want %v", n, got, w)
		}
	}
	if got := healRetry(100); got != time.Minute {
		t.Errorf("healRetry(100) = %v", got)
	}
}
