//go:build registry

package main

import (
	"bufio"
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
// process's own binary's read-only mappings (code and constants): every
// package's init code and tables run once at start-up and then sit in
// memory for the process's whole life. Those pages are never written, so
// dropping them loses nothing: a page needed again faults back in from
// the page cache. Writable mappings are left alone, since there the
// private copy is the only copy.
func trimMemory() {
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00485000 r-xp 00000000 fe:00 9977907   /path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Contains(fields[1], "w") || strings.Join(fields[5:], " ") != exe {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		// unix.Madvise wants a []byte; the raw call spares us unsafe.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
