package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/berthproject/berth/internal/testutil"
)

// A privileged test works in a "host" namespace of its own (Options.
// HostNetNS), so bridges, rules and sysctls never touch the machine's,
// and every container namespace hangs off that one. Traffic stays in
// those namespaces and on loopback.

// newNetNS makes a namespace bound under a temporary directory, with
// loopback up, and removes it when the test ends.
func newNetNS(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host-netns")
	if err := createNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeNetNS(path); err != nil {
			t.Errorf("removing test namespace: %v", err)
		}
	})
	h, err := nsHandle(path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// testManager returns a Manager on a temporary root whose host is a fresh
// namespace. When the test ends it checks that the test left nothing
// behind (no records, links, namespace files or rules), then removes what
// is left anyway.
func testManager(t *testing.T) *Manager {
	t.Helper()
	testutil.RequireRoot(t)
	host := newNetNS(t)
	root := t.TempDir()
	m, err := OpenWith(root, filepath.Join(root, "run"), Options{HostNetNS: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sbs, _ := m.readSandboxes()
		for _, s := range sbs {
			t.Errorf("sandbox %s left attached", s.ID)
			_ = m.Detach(s.ID)
		}
		nets, _ := m.List()
		for _, n := range nets {
			t.Errorf("network %s left behind", n.Name)
			_ = m.Remove(n.Name)
		}
		assertClean(t, m)
	})
	return m
}

// assertClean fails t if the host namespace has any link, rule or
// namespace file of berth's.
func assertClean(t *testing.T, m *Manager) {
	t.Helper()
	h, err := m.host.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	links, _ := dumped(h.LinkList)
	for _, l := range links {
		if n := l.Attrs().Name; strings.HasPrefix(n, "br-") || strings.HasPrefix(n, "bth") || l.Attrs().Alias == linkAlias {
			t.Errorf("link %s left behind", n)
		}
	}
	addrs, _ := dumped(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			t.Errorf("address %s left behind", a.IPNet)
		}
	}
	c, closeConn, err := m.nftConn()
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn()
	if tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4); err == nil {
		for _, tb := range tables {
			t.Errorf("nftables table %s left behind", tb.Name)
		}
	}
	if ents, _ := os.ReadDir(m.netnsDir); len(ents) > 0 {
		t.Errorf("%d network namespace files left in %s", len(ents), m.netnsDir)
	}
	if ents, _ := os.ReadDir(filepath.Join(m.dir, "sandboxes")); len(ents) > 0 {
		t.Errorf("%d sandbox records left", len(ents))
	}
}

// attach attaches id and detaches it when the test ends.
func attach(t *testing.T, m *Manager, id string, reqs ...AttachRequest) *Sandbox {
	t.Helper()
	sb, err := m.Attach(context.Background(), id, reqs)
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

func createNetwork(t *testing.T, m *Manager, cfg NetworkConfig) *Network {
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

// serveTCP runs an echo-ish server in the namespace at ns: every
// connection is answered with reply and closed.
func serveTCP(t *testing.T, ns, addr, reply string) {
	t.Helper()
	var l net.Listener
	if err := inNetNS(ns, func() (err error) { l, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, reply)
			c.Close()
		}
	}()
}

// serveUDP answers every datagram with reply, from the namespace at ns.
func serveUDP(t *testing.T, ns, addr, reply string) {
	t.Helper()
	var pc net.PacketConn
	if err := inNetNS(ns, func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(reply), from)
		}
	}()
}

// fetchTCP connects from the namespace at ns to addr and returns what the
// server says.
func fetchTCP(ns, addr string, timeout time.Duration) (string, error) {
	var c net.Conn
	if err := inNetNS(ns, func() (err error) { c, err = net.DialTimeout("tcp4", addr, timeout); return err }); err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	return string(b), err
}

// fetchUDP sends a datagram from the namespace at ns and returns the
// answer.
func fetchUDP(ns, addr string, timeout time.Duration) (string, error) {
	var c net.Conn
	if err := inNetNS(ns, func() (err error) { c, err = net.Dial("udp4", addr); return err }); err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ {
		_ = c.SetDeadline(time.Now().Add(timeout / 3))
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return "", err
		}
	}
	return "", fmt.Errorf("no answer from %s", addr)
}

// freeHostPort is a TCP and UDP port free in the namespace at ns.
func freeHostPort(t *testing.T, ns string) uint16 {
	t.Helper()
	var port int
	err := inNetNS(ns, func() error {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		port = l.Addr().(*net.TCPAddr).Port
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return uint16(port)
}
