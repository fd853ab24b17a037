package scheduler

import (
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/spec"
)

func TestRestartDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	exited := func(ran time.Duration, code int, rs RestartState) Replica {
		return Replica{State: StateExited, ExitCode: code, StartedAt: t0.Add(-ran), FinishedAt: t0, Restart: rs}
	}
	always := spec.RestartPolicy{Name: spec.RestartAlways}
	tests := []struct {
		name   string
		policy spec.RestartPolicy
		r      Replica
		ok     bool
		wait   time.Duration // after FinishedAt
	}{
		{"no", spec.RestartPolicy{Name: spec.RestartNo}, exited(time.Second, 1, RestartState{}), false, 0},
		{"always, ran long: at once", always, exited(time.Minute, 0, RestartState{Backoff: 5}), true, 0},
		{"always, first quick failure", always, exited(time.Second, 1, RestartState{}), true, 100 * time.Millisecond},
		{"always, fourth quick failure", always, exited(time.Second, 1, RestartState{Backoff: 3}), true, 800 * time.Millisecond},
		{"always, capped at a minute", always, exited(time.Second, 1, RestartState{Backoff: 30}), true, time.Minute},
		{"unless-stopped", spec.RestartPolicy{Name: spec.RestartUnlessStopped}, exited(time.Minute, 0, RestartState{}), true, 0},
		{"stopped by someone", always, func() Replica { r := exited(time.Minute, 0, RestartState{}); r.StopRequested = true; return r }(), false, 0},
		{"on-failure, success", spec.RestartPolicy{Name: spec.RestartOnFailure}, exited(time.Minute, 0, RestartState{}), false, 0},
		{"on-failure, failure", spec.RestartPolicy{Name: spec.RestartOnFailure, MaxRetries: 3}, exited(time.Minute, 2, RestartState{Count: 2}), true, 0},
		{"on-failure, out of retries", spec.RestartPolicy{Name: spec.RestartOnFailure, MaxRetries: 3}, exited(time.Minute, 2, RestartState{Count: 3}), false, 0},
		{"delay is the first back-off", spec.RestartPolicy{Name: spec.RestartAlways, Delay: time.Second}, exited(time.Second, 1, RestartState{Backoff: 1}), true, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, ok := restartDue(tt.policy, tt.r, t0)
			if ok != tt.ok || (ok && due.Sub(t0) != tt.wait) {
				t.Errorf("got %v after %v, want %v after %v", ok, due.Sub(t0), tt.ok, tt.wait)
			}
		})
	}
	if n := nextRestart(exited(time.Second, 1, RestartState{Count: 4, Backoff: 2})); n != (RestartState{Count: 5, Backoff: 3}) {
		t.Errorf("after a quick failure: %+v", n)
	}
	if n := nextRestart(exited(time.Minute, 1, RestartState{Count: 4, Backoff: 2})); n != (RestartState{Count: 5, Backoff: 0}) {
		t.Errorf("after a long run: %+v", n)
	}
}

func TestPlanFor_Heal(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	web := svc("web", "nginx", replicas(2), func(s *spec.Service) { s.Restart = spec.RestartPolicy{Name: spec.RestartAlways} })
	st := stack(web)
	have := up(st)
	have.Replicas[0].State = StateExited
	have.Replicas[0].StartedAt, have.Replicas[0].FinishedAt = now.Add(-time.Hour), now.Add(-time.Second)

	p := planFor(st, have, PlanOptions{Heal: true, Now: now})
	want := `#0 remove         container:app-web-1  restart policy always
#1 create         container:app-web-1  restart policy always after #0
#2 start          container:app-web-1  created after #1
`
	if got := p.String(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	if p.Steps[1].Restart != (RestartState{Count: 1}) {
		t.Errorf("the new replica carries %+v", p.Steps[1].Restart)
	}

	// A quick failure waits out its back-off: nothing now, a wake-up later.
	have.Replicas[0].StartedAt = now.Add(-1500 * time.Millisecond)
	p = planFor(st, have, PlanOptions{Heal: true, Now: now.Add(-950 * time.Millisecond)})
	if len(p.Steps) != 0 || !p.Wake.Equal(now.Add(-900*time.Millisecond)) {
		t.Errorf("back-off: %d steps, wake %v\n%s", len(p.Steps), p.Wake.Sub(now), p)
	}

	// A changed service is left for the next up; policy no stays exited.
	changed := stack(svc("web", "nginx:2", replicas(2)))
	have = up(st)
	have.Replicas[1].State = StateExited
	if p := planFor(changed, have, PlanOptions{Heal: true, Now: now}); len(p.Steps) != 0 {
		t.Errorf("heal recreated or restarted:\n%s", p)
	}
	if p := planFor(changed, have, PlanOptions{Now: now}); !strings.Contains(p.String(), "config changed") {
		t.Errorf("up did not recreate:\n%s", p)
	}
}
