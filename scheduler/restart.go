package scheduler

import (
	"time"

	"github.com/berthproject/berth/spec"
)

// Restart back-off, Docker's numbers: a container that ran at least
// restartReset is restarted at once; one that failed sooner waits
// restartBase, doubling with each such failure, up to restartMax.
const (
	restartReset = 10 * time.Second
	restartBase  = 100 * time.Millisecond
	restartMax   = time.Minute
)

// RestartState is what a replica carries from the ones it replaced after
// exits: the restarts so far (on-failure's max_attempts counts them) and
// the failures in a row that each ran less than restartReset.
type RestartState struct {
	Count   int
	Backoff int
}

// restartDue says whether policy restarts r, which exited, and when.
func restartDue(policy spec.RestartPolicy, r Replica, now time.Time) (time.Time, bool) {
	if r.StopRequested {
		return time.Time{}, false // stopped by someone: it stays so
	}
	switch policy.Name {
	case spec.RestartAlways, spec.RestartUnlessStopped:
	case spec.RestartOnFailure:
		if r.ExitCode == 0 || (policy.MaxRetries > 0 && r.Restart.Count >= policy.MaxRetries) {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	if ranLongEnough(r) {
		return r.FinishedAt, true
	}
	delay := restartBase
	if policy.Delay > 0 {
		delay = policy.Delay
	}
	for range r.Restart.Backoff {
		if delay *= 2; delay >= restartMax {
			delay = restartMax
			break
		}
	}
	if r.FinishedAt.IsZero() {
		return now.Add(delay), true
	}
	return r.FinishedAt.Add(delay), true
}

// nextRestart is the restart state of the replica that replaces r.
func nextRestart(r Replica) RestartState {
	next := RestartState{Count: r.Restart.Count + 1, Backoff: r.Restart.Backoff + 1}
	if ranLongEnough(r) {
		next.Backoff = 0
	}
	return next
}

func ranLongEnough(r Replica) bool {
	return !r.StartedAt.IsZero() && r.FinishedAt.Sub(r.StartedAt) >= restartReset
}
