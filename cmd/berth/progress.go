//go:build registry

package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	units "github.com/docker/go-units"

	"github.com/berthproject/berth/image"
)

// progressPrinter shows per-layer progress of a pull or push: on a
// terminal, one line per layer redrawn in place (at most ten times a
// second); otherwise a plain line each time a layer changes state.
type progressPrinter struct {
	w   io.Writer
	tty bool

	mu      sync.Mutex
	order   []string
	last    map[string]image.ProgressEvent
	drawn   int // lines drawn last time, to move back over them
	painted time.Time
}

func newProgressPrinter(w io.Writer, tty bool) *progressPrinter {
	return &progressPrinter{w: w, tty: tty, last: map[string]image.ProgressEvent{}}
}

// event records ev and shows it.
func (p *progressPrinter) event(ev image.ProgressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, seen := p.last[ev.Layer]
	if !seen {
		p.order = append(p.order, ev.Layer)
	}
	p.last[ev.Layer] = ev
	if !p.tty {
		if !seen || prev.Status != ev.Status {
			fmt.Fprintln(p.w, progressLine(ev))
		}
		return
	}
	if seen && prev.Status == ev.Status && time.Since(p.painted) < 100*time.Millisecond {
		return
	}
	p.paint()
}

// done draws the final state.
func (p *progressPrinter) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.paint()
	}
}

// Preconditions: mu held, on a terminal.
func (p *progressPrinter) paint() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, l := range p.order {
		b.WriteString("\x1b[2K" + progressLine(p.last[l]) + "\n")
	}
	p.drawn = len(p.order)
	p.painted = time.Now()
	io.WriteString(p.w, b.String())
}

// progressLine reads like Docker's: "a3ed95caeb02: Downloading [==>   ] 1.2MB/3.4MB".
func progressLine(ev image.ProgressEvent) string {
	status := strings.ToUpper(ev.Status[:1]) + ev.Status[1:]
	if ev.Status == "exists" {
		status = "Already exists"
	}
	line := ev.Layer + ": " + status
	if (ev.Status == "downloading" || ev.Status == "pushing") && ev.Total > 0 {
		const width = 30
		n := int(float64(width) * float64(ev.Current) / float64(ev.Total))
		n = min(max(n, 0), width)
		bar := strings.Repeat("=", n)
		if n < width {
			bar += ">" + strings.Repeat(" ", width-n-1)
		}
		line += fmt.Sprintf(" [%s] %s/%s", bar,
			units.HumanSizeWithPrecision(float64(ev.Current), 3), units.HumanSizeWithPrecision(float64(ev.Total), 3))
	}
	return line
}
