package containerinit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func entries(t *testing.T, b []byte) []LogEntry {
	t.Helper()
	var out []LogEntry
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var e LogEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func TestLogWriter_SplitsLinesPerStream(t *testing.T) {
	var buf bytes.Buffer
	w := newLogWriter(&buf)
	w.write("stdout", []byte("one\ntw"))
	w.write("stderr", []byte("err\n"))
	w.write("stdout", []byte("o\nthree"))
	w.flush()
	got := entries(t, buf.Bytes())
	want := []struct{ stream, log string }{
		{"stdout", "one\n"}, {"stderr", "err\n"}, {"stdout", "two\n"}, {"stdout", "three"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Stream != w.stream || got[i].Log != w.log || got[i].Time.IsZero() {
			t.Errorf("entry %d = %+v, want %s %q", i, got[i], w.stream, w.log)
		}
	}
}

func TestLogWriter_CutsEndlessLines(t *testing.T) {
	var buf bytes.Buffer
	w := newLogWriter(&buf)
	w.write("stdout", bytes.Repeat([]byte("x"), maxLogLine*2+5))
	w.flush()
	got := entries(t, buf.Bytes())
	if len(got) != 3 || len(got[0].Log) != maxLogLine || len(got[2].Log) != 5 {
		t.Errorf("got %d entries", len(got))
	}
}

// A long line that arrives whole, newline included, is cut as one that
// arrives in small reads: the pieces do not depend on the reads.
func TestLogWriter_CutsLongCompleteLines(t *testing.T) {
	line := append(bytes.Repeat([]byte("x"), maxLogLine*2+5), '\n')
	for _, read := range []int{len(line), maxLogLine + 3, 4096} {
		var buf bytes.Buffer
		w := newLogWriter(&buf)
		for rest := line; len(rest) > 0; {
			n := min(read, len(rest))
			w.write("stdout", rest[:n])
			rest = rest[n:]
		}
		w.flush()
		got := entries(t, buf.Bytes())
		var lens []int
		for _, e := range got {
			lens = append(lens, len(e.Log))
		}
		if len(got) != 3 || lens[0] != maxLogLine || lens[1] != maxLogLine || got[2].Log != "xxxxx\n" {
			t.Errorf("reads of %d bytes: entries of %v bytes, want %d, %d, 6", read, lens, maxLogLine, maxLogLine)
		}
	}
}

func TestParseOOMKills(t *testing.T) {
	cases := map[string]int{
		"oom_kill_disable 0\nunder_oom 0\noom_kill 2\n": 2,
		"low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n":     1,
		"oom_kill_disable 0\nunder_oom 0\n":             0,
	}
	for in, want := range cases {
		if got := parseOOMKills([]byte(in)); got != want {
			t.Errorf("parseOOMKills(%q) = %d, want %d", in, got, want)
		}
	}
}
