package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthproject/berth/runtime/containerinit"
)

// trickyLines are log lines whose JSON encoding has every case of Go's
// encoding/json: HTML escapes, short and \u00XX control escapes, DEL,
// valid UTF-8 kept, U+2028/9 escaped, each byte of invalid UTF-8 (bad
// bytes, truncated sequences, surrogates, overlongs, beyond U+10FFFF) as
// \ufffd.
var trickyLines = []string{
	"plain ascii\n",
	"html <b>&amp;</b> \"quoted\" back\\slash /\n",
	"ctl \t tab \b bs \f ff \r cr \x00 nul \x01 \x1f \x7f del\n",
	"utf8 é 日本 😀 \u2028 \u2029 \ufffd\n",
	"bad \xff \xc3 \xe2\x82 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 \xf0\x9f\x98\n",
	"\n",
}

// TestLogs_EncodedAsGoDoes holds the log file to the json-file format the
// Go init writes (logfile.go), byte for byte: berth-shim writes it the
// same way (cmd/berth-shim/json.c).
func TestLogs_EncodedAsGoDoes(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "sh", "-c", "cat /tricky; cat /tricky >&2; cat /long; printf tail-no-newline")
	long := strings.Repeat("x", 40000) + "\n"
	if err := os.WriteFile(filepath.Join(cfg.Rootfs, "tricky"), []byte(strings.Join(trickyLines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Rootfs, "long"), []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startDetached(t, m, cfg)
	eventually(t, "the container to end", func() bool {
		fresh, err := m.Get(c.ID)
		return err == nil && !fresh.State.Running
	})
	data, err := os.ReadFile(c.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	var got = map[string][]string{} // raw log text per stream
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e containerinit.LogEntry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		raw := e.Log
		if n := len(got[e.Stream]); n < len(trickyLines) {
			raw = trickyLines[n] // what went in, before decoding replaced bad bytes
		}
		got[e.Stream] = append(got[e.Stream], raw)
		want, _ := json.Marshal(containerinit.LogEntry{Log: raw, Stream: e.Stream, Time: e.Time})
		if !bytes.Equal(line, want) {
			t.Errorf("log line\n%s\nwant (as Go's encoding/json writes it)\n%s", line, want)
		}
	}
	for _, stream := range []string{"stdout", "stderr"} {
		if len(got[stream]) < len(trickyLines) {
			t.Fatalf("%s: %d entries, want at least %d:\n%s", stream, len(got[stream]), len(trickyLines), data)
		}
	}
	// The long line comes in 16 KiB pieces, whatever the sizes of the
	// reads of the pipe, and the last line, without a newline, whole at
	// the end.
	rest := got["stdout"][len(trickyLines):]
	if last := rest[len(rest)-1]; last != "tail-no-newline" {
		t.Errorf("last entry %q, want the unfinished line", last)
	}
	pieces := rest[:len(rest)-1]
	if strings.Join(pieces, "") != long || len(pieces) < 3 {
		t.Errorf("the 40000-byte line came as %d pieces of %v", len(pieces), lens(pieces))
	}
	for _, p := range pieces[:len(pieces)-1] {
		if len(p) != 16<<10 {
			t.Errorf("the 40000-byte line came in pieces of %v, want 16 KiB cuts", lens(pieces))
			break
		}
	}
}

func lens(ss []string) []int {
	var out []int
	for _, s := range ss {
		out = append(out, len(s))
	}
	return out
}

// TestShim_PID1 checks who supervises a running container: berth-shim,
// one thread and little memory, when it is there; the Go init with
// BERTH_NO_SHIM=1. Either is called berth-init in ps, and neither can be
// read from inside.
func TestShim_PID1(t *testing.T) {
	m := testManager(t)
	c := startDetached(t, m, baseConfig(t, "sleep", "100"))
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(c.State.Pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(c.State.Pid) + "/comm")
	if strings.TrimSpace(string(comm)) != "berth-init" {
		t.Errorf("PID 1 is called %q, want berth-init", comm)
	}
	if shimPath == "" {
		if len(args) < 2 || args[1] != containerinit.Arg {
			t.Errorf("without berth-shim PID 1 runs %q, want the Go init", args)
		}
		return
	}
	if len(args) < 2 || args[0] != "berth-shim" || args[1] != containerinit.ShimSupervise {
		t.Fatalf("PID 1 runs %q, want berth-shim supervise", args)
	}
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(c.State.Pid) + "/status")
	if !strings.Contains(string(status), "\nThreads:\t1\n") {
		t.Errorf("berth-shim has more than one thread:\n%s", status)
	}
	rollup, _ := os.ReadFile("/proc/" + strconv.Itoa(c.State.Pid) + "/smaps_rollup")
	if anon := smapsField(string(rollup), "Anonymous"); anon <= 0 || anon > 200 {
		t.Errorf("berth-shim has %d kB of anonymous memory, want at most 200:\n%s", anon, rollup)
	}
	out := mustExec(t, m, c, "sh", "-c", "ls /proc/1/fd/100/ 2>&1; ls -l /proc/1/fd/ 2>&1; cat /proc/1/environ 2>&1; true")
	if strings.Count(out, "Permission denied") < 2 || strings.Contains(out, "->") || strings.Contains(out, "config.json") {
		t.Errorf("berth-shim's /proc/1 is readable from the container:\n%s", out)
	}
}

// smapsField is a "Name:   N kB" field of smaps_rollup, or -1.
func smapsField(rollup, name string) int {
	for _, line := range strings.Split(rollup, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name+":" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}
