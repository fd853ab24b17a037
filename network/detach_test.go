package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The detaches of a stack's containers run at once (the links go outside
// the lock), and two detaches of one sandbox, in one process or two,
// take it down once and both succeed.
func TestDetach_Concurrent(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "app"})
	var ids []string
	for i := range 10 {
		id := fmt.Sprintf("ctr-%d", i)
		if _, err := m.Attach(context.Background(), id, []AttachRequest{{Network: "app"}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// A second manager on the same root races the first, as the stop
	// and the removal of one container can.
	other, err := OpenWith(filepath.Dir(m.dir), filepath.Dir(m.netnsDir), Options{HostNetNS: m.host.path})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		for _, mm := range []*Manager{m, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := mm.Detach(id); err != nil {
					t.Errorf("detaching %s: %v", id, err)
				}
			}()
		}
	}
	wg.Wait()
	if sbs, _ := m.readSandboxes(); len(sbs) > 0 {
		t.Errorf("%d sandboxes left after detaching all", len(sbs))
	}
	// Every address is free again: the next sandbox gets the first.
	sb := attach(t, m, "next", AttachRequest{Network: "app"})
	if got := sb.Endpoints[0].IP.String(); got != "10.89.0.2" {
		t.Errorf("next sandbox got %s, want 10.89.0.2", got)
	}
}

// A detach whose process died between its mark and the end of its
// teardown is finished by the next caller, and its address is free again.
func TestDetach_CrashHalfWayIsCleanedUp(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "app"})
	sb, err := m.Attach(context.Background(), "crashed", []AttachRequest{{Network: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := m.readSandbox("crashed")
	if err != nil {
		t.Fatal(err)
	}
	// Marked, its link deleted, then the process died.
	rec.State, rec.Owner = stateDetaching, deadOwner(t)
	rec.Owner.Op = 7
	if err := m.writeSandbox(&rec); err != nil {
		t.Fatal(err)
	}
	h, _ := m.host.handle()
	defer h.Close()
	if err := deleteLink(h, rec.Endpoints[0].HostVeth); err != nil {
		t.Fatal(err)
	}
	next := attach(t, m, "next", AttachRequest{Network: "app"})
	if next.Endpoints[0].IP != sb.Endpoints[0].IP {
		t.Errorf("got %s, want the crashed detach's %s back", next.Endpoints[0].IP, sb.Endpoints[0].IP)
	}
	if _, err := os.Stat(sb.NetNS); err == nil {
		t.Errorf("namespace %s of the crashed detach is still there", sb.NetNS)
	}
}

// A sandbox another operation is detaching is left to it: Cleanup does
// not take it down beside it, and Detach waits for it to end.
func TestDetach_InFlightIsLeftToItsOperation(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "app"})
	sb, err := m.Attach(context.Background(), "busy", []AttachRequest{{Network: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := m.readSandbox("busy")
	if err != nil {
		t.Fatal(err)
	}
	rec.State, rec.Owner = stateDetaching, newOperation()
	if err := m.writeSandbox(&rec); err != nil {
		t.Fatal(err)
	}
	if err := m.Cleanup(func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	h, _ := m.host.handle()
	defer h.Close()
	if _, err := h.LinkByName(sb.Endpoints[0].HostVeth); err != nil {
		t.Errorf("Cleanup took down a sandbox being detached: %v", err)
	}

	// The operation fails and hands the sandbox back after a while; the
	// Detach that waited for it then takes it down.
	go func() {
		time.Sleep(100 * time.Millisecond)
		m.abandon(rec)
	}()
	start := time.Now()
	if err := m.Detach("busy"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("Detach returned after %v, before the operation ended", waited)
	}
	if _, err := h.LinkByName(sb.Endpoints[0].HostVeth); err == nil {
		t.Error("the sandbox's link is still there after Detach")
	}
}

// DetachStart frees the sandbox's published ports at once, and leaves
// the links, the namespace and the addresses to its finish: a static
// address asked for meanwhile is waited for, not refused.
func TestDetachStart_PortsAtOnceAddressesAtFinish(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "app"})
	static := netip.MustParseAddr("10.89.0.9")
	old := attach(t, m, "old", AttachRequest{Network: "app", IP: static})
	port := []PortMapping{{HostPort: 18080, ContainerPort: 80, Protocol: "tcp"}}
	if _, err := m.Publish("old", port); err != nil {
		t.Fatal(err)
	}
	finish, err := m.DetachStart("old")
	if err != nil || finish == nil {
		t.Fatalf("DetachStart = %v, %v", finish != nil, err)
	}
	// The links are still there, the port is not.
	if _, err := os.Stat(old.NetNS); err != nil {
		t.Errorf("the namespace went before finish: %v", err)
	}
	attach(t, m, "other", AttachRequest{Network: "app"})
	if _, err := m.Publish("other", port); err != nil {
		t.Errorf("the port of a sandbox being detached is still taken: %v", err)
	}
	// The static address: its Attach waits for finish.
	attached := make(chan error, 1)
	go func() {
		_, err := m.Attach(context.Background(), "new", []AttachRequest{{Network: "app", IP: static}})
		attached <- err
	}()
	select {
	case err := <-attached:
		t.Fatalf("the static address was handed out before its release: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if err := <-attached; err != nil {
		t.Errorf("attaching to the released address: %v", err)
	}
	if _, err := os.Stat(old.NetNS); !os.IsNotExist(err) {
		t.Errorf("the namespace is still there after finish (%v)", err)
	}
	for _, id := range []string{"new", "other"} {
		if err := m.Detach(id); err != nil {
			t.Error(err)
		}
	}
	if finish, err := m.DetachStart("old"); finish != nil || err != nil {
		t.Errorf("DetachStart of a detached sandbox = %v, %v; want nothing to do", finish != nil, err)
	}
}
