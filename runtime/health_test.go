package runtime

import (
	"context"
	"testing"
	"time"
)

func TestCheckHealth(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sleep", "100")
	cfg.Healthcheck = &HealthConfig{Test: []string{"CMD-SHELL", "cat /tmp/ok"}, Retries: 2, Timeout: 5 * time.Second, Interval: time.Millisecond}
	c := startDetached(t, m, cfg)
	ctx := context.Background()

	got, err := m.Get(c.ID)
	if err != nil || got.State.Health == nil || got.State.Health.Status != HealthStarting {
		t.Fatalf("before any check: %+v, %v", got.State.Health, err)
	}
	check := func() *Health {
		t.Helper()
		c, err := m.Get(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		h, err := m.CheckHealth(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := check(); h.Status != HealthStarting || h.FailingStreak != 1 || h.Log[0].ExitCode != 1 {
		t.Errorf("one failure: %+v", h)
	}
	if h := check(); h.Status != HealthUnhealthy || h.FailingStreak != 2 {
		t.Errorf("retries failures: %+v", h)
	}
	if _, err := m.Exec(ctx, c, ExecConfig{Args: []string{"sh", "-c", "echo fine > /tmp/ok"}}, nil); err != nil {
		t.Fatal(err)
	}
	h := check()
	if h.Status != HealthHealthy || h.FailingStreak != 0 || h.Log[len(h.Log)-1].Output != "fine\n" {
		t.Errorf("after the fix: %+v", h)
	}
	for range 6 {
		check()
	}
	if got, _ := m.Get(c.ID); got.State.Health == nil || got.State.Health.Status != HealthHealthy || len(got.State.Health.Log) != 5 {
		t.Errorf("state: %+v", got.State.Health)
	}
}

func TestCheckHealth_TimeoutAndStartPeriod(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sleep", "100")
	cfg.Healthcheck = &HealthConfig{Test: []string{"CMD", "sleep", "10"}, Timeout: 200 * time.Millisecond, Retries: 1, StartPeriod: time.Hour}
	c := startDetached(t, m, cfg)
	c, _ = m.Get(c.ID)
	start := time.Now()
	h, err := m.CheckHealth(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if h.Log[0].ExitCode != -1 || time.Since(start) > 5*time.Second {
		t.Errorf("a check past its timeout: %+v after %v", h.Log[0], time.Since(start))
	}
	// In its start period, a failure does not count.
	if h.Status != HealthStarting || h.FailingStreak != 0 {
		t.Errorf("failure in the start period counted: %+v", h)
	}
	// Before its first success it is checked every second at most, and
	// quicker just after its start: from 100 ms, a quarter of its age.
	for age, want := range map[time.Duration]time.Duration{0: 100 * time.Millisecond, 2 * time.Second: 500 * time.Millisecond, time.Minute: time.Second} {
		if d := NextHealthCheck(c, c.State.StartedAt.Add(age)); d != want {
			t.Errorf("next check at %v of age, before a success, after %v, want %v", age, d, want)
		}
	}
	c.State.Health = &Health{Status: HealthHealthy}
	if d := NextHealthCheck(c, time.Now()); d != DefaultHealthStartInterval {
		t.Errorf("next check in the start period after %v", d)
	}
}

// Before a first success, checks come quickly but failures count once
// per interval: a slow starter is not unhealthy after a few seconds.
func TestCheckHealth_StartingFailuresCountOncePerInterval(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sleep", "100")
	cfg.Healthcheck = &HealthConfig{Test: []string{"CMD", "false"}, Interval: time.Hour, Retries: 2}
	c := startDetached(t, m, cfg)
	for range 3 {
		c, _ = m.Get(c.ID)
		if _, err := m.CheckHealth(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	c, _ = m.Get(c.ID)
	if h := c.State.Health; h.Status != HealthStarting || h.FailingStreak != 1 || len(h.Log) != 3 {
		t.Errorf("three quick failures: %+v", h)
	}
}
