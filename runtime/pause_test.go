package runtime

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ticker is a container that prints a line every 20 ms.
func ticker(t *testing.T, m *Manager) *Container {
	t.Helper()
	c := startDetached(t, m, baseConfig(t, "sh", "-c", "while :; do echo tick; sleep 0.02; done"))
	eventually(t, "the first ticks", func() bool { return ticks(c) >= 3 })
	return c
}

// ticks counts the lines the ticker has written so far.
func ticks(c *Container) int {
	b, _ := os.ReadFile(c.LogPath())
	return bytes.Count(b, []byte("tick"))
}

// testPauseCycle pauses a counting container, checks that it stops
// counting and reads as paused, and that it goes on after unpause.
func testPauseCycle(t *testing.T, m *Manager) {
	c := ticker(t, m)
	if err := m.Pause(c); err != nil {
		t.Fatal(err)
	}
	fresh, err := m.Get(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := fresh.State; !st.Paused || !st.Running || st.Status != StatusPaused {
		t.Fatalf("after pause: state %+v, want paused and running", st)
	}
	before := ticks(c)
	time.Sleep(300 * time.Millisecond)
	if after := ticks(c); after != before {
		t.Errorf("a paused container went on counting: %d ticks, then %d", before, after)
	}
	if err := m.Pause(fresh); !errors.Is(err, ErrPaused) {
		t.Errorf("pause of a paused container: %v, want ErrPaused", err)
	}
	if _, err := m.Exec(t.Context(), fresh, ExecConfig{Args: []string{"true"}}, nil); !errors.Is(err, ErrPaused) {
		t.Errorf("exec in a paused container: %v, want ErrPaused", err)
	}
	if err := m.Unpause(fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.State.Paused || fresh.State.Status != StatusRunning {
		t.Errorf("after unpause: state %+v, want running", fresh.State)
	}
	eventually(t, "counting again after unpause", func() bool { return ticks(c) >= before+3 })
	if err := m.Unpause(fresh); !errors.Is(err, ErrNotPaused) {
		t.Errorf("unpause of a running container: %v, want ErrNotPaused", err)
	}
}

func TestPause_StopsAndResumes(t *testing.T) {
	testPauseCycle(t, testManager(t))
}

// TestPause_OnCgroupV2 runs the same cycle on a unified hierarchy (the
// host's, or a hybrid host's cgroup2 mount: the freezer is part of
// cgroup v2's core and needs no controller).
func TestPause_OnCgroupV2(t *testing.T) {
	mount, _ := cgRequireV2(t)
	oldRoot, oldRequired := cgroupRoot, v2Required
	t.Cleanup(func() { cgroupRoot, v2Required = oldRoot, oldRequired })
	cgroupRoot = mount
	if mount != "/sys/fs/cgroup" {
		v2Required = nil
	}
	testPauseCycle(t, testManager(t))
}

func TestPause_StopAndRemovePaused(t *testing.T) {
	m := testManager(t)

	t.Run("stop", func(t *testing.T) {
		c := ticker(t, m)
		if err := m.Pause(c); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := m.Stop(t.Context(), c, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		// sh dies of SIGTERM once thawed: no wait for the SIGKILL.
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("stop of a paused container took %s: the stop signal was not handled", d)
		}
		fresh, err := m.Get(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fresh.State.Running || fresh.State.Paused || fresh.State.Status != StatusExited {
			t.Errorf("after stop: state %+v, want exited", fresh.State)
		}
		if err := m.Remove(t.Context(), fresh, false); err != nil {
			t.Fatal(err)
		}
		assertNoCgroup(t, c.ID)
	})

	t.Run("kill", func(t *testing.T) {
		c := ticker(t, m)
		if err := m.Pause(c); err != nil {
			t.Fatal(err)
		}
		if err := m.Kill(c, unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		st, err := m.Wait(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 137 {
			t.Errorf("killed paused container exited %d, want 137", st.ExitCode)
		}
	})

	t.Run("rm -f", func(t *testing.T) {
		c := ticker(t, m)
		if err := m.Pause(c); err != nil {
			t.Fatal(err)
		}
		if err := m.Remove(t.Context(), c, false); !errors.Is(err, ErrRunning) {
			t.Errorf("rm without force of a paused container: %v, want ErrRunning", err)
		}
		if err := m.Remove(t.Context(), c, true); err != nil {
			t.Fatal(err)
		}
		assertNoCgroup(t, c.ID)
		if _, err := m.Get(c.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("after rm -f: %v, want ErrNotFound", err)
		}
	})
}

func TestPause_NotRunning(t *testing.T) {
	m := testManager(t)
	c, err := m.Create(baseConfig(t, "true"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Pause(c); !errors.Is(err, ErrNotRunning) {
		t.Errorf("pause of a created container: %v, want ErrNotRunning", err)
	}
	if err := m.Unpause(c); !errors.Is(err, ErrNotPaused) {
		t.Errorf("unpause of a created container: %v, want ErrNotPaused", err)
	}
}
