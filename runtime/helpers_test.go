package runtime

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/testutil"
)

// testManager returns a Manager on a temporary root. Every container it
// made is force-removed when the test ends, and the test fails if one
// leaves its cgroup behind.
func testManager(t *testing.T) *Manager {
	t.Helper()
	testutil.RequireRoot(t)
	root := t.TempDir()
	m, err := New(root, filepath.Join(root, "run"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs, _ := m.List()
		for _, c := range cs {
			if err := m.Remove(context.Background(), c, true); err != nil {
				t.Errorf("cleanup: %v", err)
			}
			assertNoCgroup(t, c.ID)
		}
	})
	return m
}

func baseConfig(t *testing.T, args ...string) Config {
	return Config{Rootfs: testutil.BusyboxRootfs(t), Args: args}
}

// run starts cfg attached, and returns its output and exit status.
func run(t *testing.T, m *Manager, cfg Config) (string, ExitStatus) {
	t.Helper()
	out, st, err := tryRun(m, cfg)
	if err != nil {
		t.Fatalf("running %q: %v", cfg.Args, err)
	}
	return out, st
}

func tryRun(m *Manager, cfg Config) (string, ExitStatus, error) {
	c, err := m.Create(cfg)
	if err != nil {
		return "", ExitStatus{}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", ExitStatus{}, err
	}
	defer r.Close()
	p, err := m.Start(c, &Stdio{Out: w, Err: w})
	w.Close()
	if err != nil {
		return "", ExitStatus{}, err
	}
	out, _ := io.ReadAll(r)
	st := p.Wait()
	return string(out), st, nil
}

// startDetached starts cfg in the background, as `berth run -d` does.
func startDetached(t *testing.T, m *Manager, cfg Config) *Container {
	t.Helper()
	c, err := m.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Start(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Reap the init when it exits, as its real parent (the host's init)
	// would after the CLI is gone.
	go p.Wait()
	fresh, err := m.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func assertNoCgroup(t *testing.T, id string) {
	t.Helper()
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/berth/" + id)
	if len(matches) > 0 {
		t.Errorf("cgroup left behind: %s", strings.Join(matches, " "))
	}
}
