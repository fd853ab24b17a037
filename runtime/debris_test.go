package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCleanDebris(t *testing.T) {
	m := testManager(t)
	cfg := Config{Name: "half", Rootfs: t.TempDir(), Args: []string{"/bin/true"}}
	c, err := m.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := m.Create(Config{Name: "whole", Rootfs: cfg.Rootfs, Args: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Remove(t.Context(), keep, true) })
	// A create killed before config.json, and one still at work (its
	// lock held).
	if err := os.Remove(filepath.Join(c.Dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	// An id no container of this root has (NewID is random).
	busyDir := m.containerDir(strings.Repeat("0", 63) + "1")
	if err := os.Mkdir(busyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(busyDir) })
	busy, err := os.Open(busyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := unix.Flock(int(busy.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	n, err := m.CleanDebris()
	if err != nil || n != 1 {
		t.Fatalf("CleanDebris removed %d (%v), want 1", n, err)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the debris is still there: %v", err)
	}
	if _, err := os.Stat(busyDir); err != nil {
		t.Errorf("a create in progress was removed: %v", err)
	}
	if _, err := m.Get("whole"); err != nil {
		t.Errorf("a whole container went: %v", err)
	}
	// Its name is free again.
	again, err := m.Create(cfg)
	if err != nil {
		t.Fatalf("the debris's name is still taken: %v", err)
	}
	_ = m.Remove(t.Context(), again, true)
}
