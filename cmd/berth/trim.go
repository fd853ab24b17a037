//go:build registry

package main

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/berthproject/berth/runtime/containerinit"
)

// The engine and the DNS helper live as long as the containers they
// serve; what they hold without using is memory every user pays for.

// trimEvery is how often a long-lived process gives memory back, after a
// first trim soon after it starts (its start-up is what leaves the most).
const (
	trimFirst = 5 * time.Second
	trimEvery = 20 * time.Second
)

// trimPeriodically calls trimMemory until ctx ends, skipping a turn while
// busy says work is going on (nil: never busy).
func trimPeriodically(ctx context.Context, busy func() bool) {
	t := time.NewTimer(trimFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if busy == nil || !busy() {
			trimMemory()
		}
		t.Reset(trimEvery)
	}
}

// trimMemory gives back free heap pages and the resident pages of the
// process's own code (containerinit.DropCodePages).
func trimMemory() {
	debug.FreeOSMemory()
	containerinit.DropCodePages()
}
