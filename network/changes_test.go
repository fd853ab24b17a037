package network

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A network's creation and removal are told to a NetworkChanges
// receiver, which is how the DNS helper opens a new network's listener
// at once.
func TestNetworkChanges_CreateAndRemove(t *testing.T) {
	m := testManager(t)
	ctx, cancel := context.WithCancel(context.Background())
	changes, err := m.NetworkChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expectNotice := func(after string) {
		t.Helper()
		select {
		case _, ok := <-changes:
			if !ok {
				t.Fatalf("the channel closed instead of telling of %s", after)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no notice after %s", after)
		}
	}
	if _, err := m.Create(NetworkConfig{Name: "told"}); err != nil {
		t.Fatal(err)
	}
	expectNotice("creating a network")
	drain(changes)
	if err := m.Remove("told"); err != nil {
		t.Fatal(err)
	}
	expectNotice("removing a network")
	cancel()
	for range changes { // ends: the watch stops with ctx
	}
}

func drain(c <-chan struct{}) {
	for {
		select {
		case <-c:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

// Only network records count: not the lock, temporaries or sandboxes.
func TestIsNetworkRecord(t *testing.T) {
	for name, want := range map[string]bool{
		"/r/networks/bridge.json":                   true,
		"/r/networks/a.tmp-1.json":                  true,
		"/r/networks/lock":                          false,
		"/r/networks/bridge.json.tmp-12-3456-7":     false,
		"/r/networks/sandboxes":                     false,
		"/r/networks/sandboxes/abc.json.tmp-1-2-3":  false,
		"/r/networks/bridge.json.tmp-12-3456-7.old": false,
	} {
		if got := isNetworkRecord(name); got != want {
			t.Errorf("isNetworkRecord(%s) = %v, want %v", name, got, want)
		}
	}
}

// Sandbox records are not synced: one that a crash of the machine left
// empty is removed once it is known to be of an earlier boot, and is an
// error while it may be this boot's.
func TestReadSandboxes_TornRecord(t *testing.T) {
	root := t.TempDir()
	m, err := OpenWith(root, filepath.Join(root, "run"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	torn := m.sandboxPath("0123456789ab")
	if err := os.WriteFile(torn, []byte(`{"id": "0123`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.readSandboxes(); err == nil {
		t.Fatal("a garbled record written in this boot was read without an error")
	}
	if _, err := os.Stat(torn); err != nil {
		t.Fatalf("a garbled record of this boot was removed: %v", err)
	}
	boot, err := bootTime()
	if err != nil {
		t.Fatal(err)
	}
	before := boot.Add(-time.Hour)
	if err := os.Chtimes(torn, before, before); err != nil {
		t.Fatal(err)
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		t.Fatalf("a record an earlier boot left garbled: %v", err)
	}
	if len(sbs) != 0 {
		t.Errorf("read %d sandboxes, want none", len(sbs))
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Errorf("the garbled record of an earlier boot is still there (%v)", err)
	}
}
