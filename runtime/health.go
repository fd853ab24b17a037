package runtime

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// HealthConfig is a container's health check, as Docker's HEALTHCHECK
// and Compose's healthcheck: say. Zero durations take Docker's defaults.
type HealthConfig struct {
	// Test is ["CMD", argv...] or ["CMD-SHELL", "command"].
	Test          []string      `json:"test"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"startPeriod,omitempty"`
	StartInterval time.Duration `json:"startInterval,omitempty"`
	Retries       int           `json:"retries,omitempty"`
}

// Docker's defaults for what a HealthConfig leaves zero.
const (
	DefaultHealthInterval      = 30 * time.Second
	DefaultHealthTimeout       = 30 * time.Second
	DefaultHealthStartInterval = 5 * time.Second
	DefaultHealthRetries       = 3
)

// Health states, Docker's words.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Health is a container's health, as docker inspect shows State.Health.
type Health struct {
	Status        string         `json:"Status"`
	FailingStreak int            `json:"FailingStreak"`
	Log           []HealthResult `json:"Log"`
	// CountedAt is when a failure last counted toward the streak: before
	// its first success a check runs every second, but failures count
	// only once per interval, as Docker's cadence would count them.
	CountedAt time.Time `json:"CountedAt,omitzero"`
}

// startingCadence is how often a check runs until its first success
// (at most: a shorter interval or start interval wins), so that a
// replica joins DNS, and its dependents start, within a second of being
// ready rather than an interval later. Just after the start the checks
// come quicker still, from startingFirst, a quarter of the container's
// age: most services listen within milliseconds, and a first check that
// came a moment too early should not cost a whole second (a rolling
// update waits on it, replica after replica).
const (
	startingCadence = time.Second
	startingFirst   = 100 * time.Millisecond
)

// HealthResult is one run of the check.
type HealthResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

const (
	healthFile      = "health.json"
	healthLogKeep   = 5    // results kept, as Docker keeps
	healthOutputMax = 4096 // bytes of output kept per result, as Docker
)

// readHealth is the health of a running container with a check; a check
// that has not run yet is "starting".
func readHealth(dir string) *Health {
	var h Health
	if err := readJSON(filepath.Join(dir, healthFile), &h); err != nil || h.Status == "" {
		return &Health{Status: HealthStarting, Log: []HealthResult{}}
	}
	return &h
}

// NextHealthCheck is how long to wait before c's next check: the start
// interval during its start period, else the interval.
func NextHealthCheck(c *Container, now time.Time) time.Duration {
	hc := c.Config.Healthcheck
	if hc == nil {
		return 0
	}
	interval := cmp.Or(hc.Interval, DefaultHealthInterval)
	next := interval
	if hc.StartPeriod > 0 && now.Sub(c.State.StartedAt) < hc.StartPeriod {
		next = cmp.Or(hc.StartInterval, DefaultHealthStartInterval)
	}
	if c.State.Health == nil || c.State.Health.Status == HealthStarting {
		ramp := max(startingFirst, min(startingCadence, now.Sub(c.State.StartedAt)/4))
		next = min(next, ramp)
	}
	return next
}

// CheckHealth runs c's health check once, by Docker's rules: success
// makes it healthy; a failure after the start period adds to the failing
// streak, and Retries of them in a row make it unhealthy; a check that
// outlasts Timeout fails. The result is recorded (health.json) for
// inspect, ps and the DNS server, and returned.
func (m *Manager) CheckHealth(ctx context.Context, c *Container) (*Health, error) {
	hc := c.Config.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return nil, errors.New("container " + c.Name() + " has no health check")
	}
	if c.State.Paused {
		// Its init cannot run the check, and a pause is no failure of
		// the container's: its health stays as it was (pause.go).
		return readHealth(c.Dir), nil
	}
	var args []string
	switch hc.Test[0] {
	case "CMD":
		args = hc.Test[1:]
	case "CMD-SHELL":
		args = []string{"/bin/sh", "-c", joinShell(hc.Test[1:])}
	default:
		return nil, errors.New("health check " + hc.Test[0] + " is not CMD or CMD-SHELL")
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	var out limitedBuffer
	pr, pw, err := os.Pipe()
	if err != nil {
		cancel()
		return nil, err
	}
	read := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, pr)
		pr.Close()
		close(read)
	}()
	code, err := m.Exec(cctx, c, ExecConfig{Args: args}, &Stdio{Out: pw, Err: pw})
	pw.Close()
	<-read
	timedOut := cctx.Err() != nil && ctx.Err() == nil
	cancel()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, ErrNotRunning) {
		return nil, err
	}
	res := HealthResult{Start: start.UTC(), End: time.Now().UTC(), ExitCode: code, Output: out.String()}
	switch {
	case timedOut:
		res.ExitCode, res.Output = -1, "Health check exceeded timeout ("+timeout.String()+")"
	case err != nil:
		res.ExitCode, res.Output = -1, err.Error()
	}
	h := readHealth(c.Dir)
	retries := hc.Retries
	if retries <= 0 {
		retries = DefaultHealthRetries
	}
	inStart := hc.StartPeriod > 0 && start.Sub(c.State.StartedAt) < hc.StartPeriod
	interval := cmp.Or(hc.Interval, DefaultHealthInterval)
	switch {
	case res.ExitCode == 0:
		h.Status, h.FailingStreak = HealthHealthy, 0
	case inStart && h.Status != HealthHealthy:
		// Failures in the start period do not count.
	case h.Status == HealthStarting && !h.CountedAt.IsZero() && start.Sub(h.CountedAt) < interval:
		// The quicker checks before a first success count once per interval.
	default:
		h.FailingStreak++
		h.CountedAt = start.UTC()
		if h.FailingStreak >= retries {
			h.Status = HealthUnhealthy
		}
	}
	h.Log = append(h.Log, res)
	if len(h.Log) > healthLogKeep {
		h.Log = h.Log[len(h.Log)-healthLogKeep:]
	}
	if err := writeJSONAtomic(filepath.Join(c.Dir, healthFile), h, false); err != nil {
		return nil, err
	}
	return h, nil
}

func joinShell(parts []string) string {
	var b bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p)
	}
	return b.String()
}

// limitedBuffer keeps the first healthOutputMax bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := healthOutputMax - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
