package dnsserver

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
	"github.com/berthproject/berth/network"
)

// A privileged test works in a "host" namespace of its own (network.
// Options.HostNetNS), so bridges, rules and the DNS listeners never touch
// the machine's. Traffic stays in those namespaces and on loopback.

// inNetNS runs f on a fresh OS thread inside the namespace at path; the
// thread is never unlocked, so Go throws it away afterwards.
func inNetNS(path string, f func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("entering %s: %w", path, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// testManager returns a Manager on a temporary root whose host is a fresh
// namespace (returned too). When the test ends every sandbox and network
// it left is removed, and reported.
func testManager(t *testing.T) (*network.Manager, string) {
	t.Helper()
	testutil.RequireRoot(t)
	host := testutil.NetNS(t)
	root := t.TempDir()
	m, err := network.OpenWith(root, filepath.Join(root, "run"), network.Options{HostNetNS: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nets, _ := m.List()
		for _, n := range nets {
			for _, e := range n.Endpoints {
				t.Errorf("sandbox %s left attached", e.Sandbox)
				_ = m.Detach(e.Sandbox)
			}
		}
		for _, n := range nets {
			t.Errorf("network %s left behind", n.Name)
			_ = m.Remove(n.Name)
		}
	})
	return m, host
}

// attach attaches id and detaches it when the test ends.
func attach(t *testing.T, m *network.Manager, id string, reqs ...network.AttachRequest) *network.Sandbox {
	t.Helper()
	sb, err := m.Attach(t.Context(), id, reqs)
	if err != nil {
		t.Fatalf("attaching %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := m.Detach(id); err != nil {
			t.Errorf("detaching %s: %v", id, err)
		}
	})
	return sb
}

func createNetwork(t *testing.T, m *network.Manager, cfg network.NetworkConfig) *network.Network {
	t.Helper()
	n, err := m.Create(cfg)
	if err != nil {
		t.Fatalf("creating network %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		if err := m.Remove(cfg.Name); err != nil {
			t.Errorf("removing network %s: %v", cfg.Name, err)
		}
	})
	return n
}
