package containerinit

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// LogEntry is one line of a container's log file, in Docker's json-file
// format: {"log":"text\n","stream":"stdout","time":"2026-...Z"}.
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// maxLogLine is where a line is cut into several entries, as Docker's
// json-file logs cut them: so a workload printing no newlines cannot grow
// the init's memory, and a long line comes in the same pieces whatever
// sizes the reads of the pipe happened to have.
const maxLogLine = 16 << 10

// logWriter turns the workload's output into log entries, one per line.
// Each stream keeps its own partial line.
type logWriter struct {
	mu      sync.Mutex
	w       io.Writer
	partial map[string][]byte
}

func newLogWriter(w io.Writer) *logWriter {
	return &logWriter{w: w, partial: map[string][]byte{}}
}

// write records data of stream; complete lines are written at once.
func (l *logWriter) write(stream string, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	buf := append(l.partial[stream], data...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		line := buf[:i+1]
		for len(line) > maxLogLine {
			l.emit(stream, line[:maxLogLine])
			line = line[maxLogLine:]
		}
		l.emit(stream, line)
		buf = buf[i+1:]
	}
	for len(buf) >= maxLogLine {
		l.emit(stream, buf[:maxLogLine])
		buf = buf[maxLogLine:]
	}
	l.partial[stream] = append([]byte(nil), buf...)
}

// flush writes what is left of unfinished lines.
func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for stream, buf := range l.partial {
		if len(buf) > 0 {
			l.emit(stream, buf)
		}
		delete(l.partial, stream)
	}
}

// Preconditions: mu held.
func (l *logWriter) emit(stream string, line []byte) {
	b, err := json.Marshal(LogEntry{Log: string(line), Stream: stream, Time: time.Now().UTC()})
	if err != nil {
		return
	}
	// A full disk must not stop the workload: the entry is lost, the
	// container goes on.
	_, _ = l.w.Write(append(b, '\n'))
}
