package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/berthproject/berth/runtime/containerinit"
)

// LogEntry is one line of a container's log, in Docker's json-file format.
type LogEntry = containerinit.LogEntry

// LogOptions selects what ReadLogs returns.
type LogOptions struct {
	Follow bool // keep reading new entries until the container stops
	Tail   int  // only the last Tail entries; negative means all
}

// ReadLogs calls fn for each entry of the container's log, in order.
func (m *Manager) ReadLogs(ctx context.Context, c *Container, opts LogOptions, fn func(LogEntry)) error {
	f, err := os.Open(c.LogPath())
	if errors.Is(err, fs.ErrNotExist) && c.State.Status == StatusCreated {
		return nil // never started: nothing logged yet
	}
	if err != nil {
		return fmt.Errorf("reading logs of %s: %w", c.Name(), err)
	}
	defer f.Close()
	lr := &logReader{r: f}
	if opts.Tail >= 0 {
		var entries []LogEntry
		if err := lr.each(func(e LogEntry) { entries = append(entries, e) }); err != nil {
			return err
		}
		if len(entries) > opts.Tail {
			entries = entries[len(entries)-opts.Tail:]
		}
		for _, e := range entries {
			fn(e)
		}
	} else if err := lr.each(fn); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	for {
		// Look at the state first: what was written before the exit is
		// then surely read by the pass below.
		running := readState(c.Dir).Running
		if err := lr.each(fn); err != nil {
			return err
		}
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logReader reads whole JSON lines from a log file that may be growing; a
// partial last line waits for the next call.
type logReader struct {
	r       io.Reader
	pending []byte
}

func (l *logReader) each(fn func(LogEntry)) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := l.r.Read(buf)
		l.pending = append(l.pending, buf[:n]...)
		for {
			i := bytes.IndexByte(l.pending, '\n')
			if i < 0 {
				break
			}
			var e LogEntry
			if json.Unmarshal(l.pending[:i], &e) == nil {
				fn(e)
			}
			l.pending = l.pending[i+1:]
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading log: %w", err)
		}
	}
}
