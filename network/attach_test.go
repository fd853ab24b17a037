package network

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func TestAttach_TwoSandboxesTalk(t *testing.T) {
	m := testManager(t)
	n := createNetwork(t, m, NetworkConfig{Name: "app"})
	if n.Subnet.String() != "10.89.0.0/24" || n.Gateway.String() != "10.89.0.1" || !strings.HasPrefix(n.Bridge, "br-") {
		t.Errorf("network: %+v", n)
	}
	a := attach(t, m, "aaaa", AttachRequest{Network: "app", Names: []string{"a"}})
	b := attach(t, m, "bbbb", AttachRequest{Network: "app", Names: []string{"b"}})
	if a.Endpoints[0].IP.String() != "10.89.0.2" || b.Endpoints[0].IP.String() != "10.89.0.3" {
		t.Errorf("addresses %s and %s", a.Endpoints[0].IP, b.Endpoints[0].IP)
	}
	if a.NetNS != m.NetNSPath("aaaa") || len(a.Nameservers) != 1 || a.Nameservers[0] != "10.89.0.1" {
		t.Errorf("sandbox: %+v", a)
	}

	// Inside: eth0 with the address and MAC, lo up, a default route.
	h, err := nsHandle(a.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if eth0.Attrs().HardwareAddr.String() != "02:42:0a:59:00:02" || eth0.Attrs().OperState != netlink.OperUp && eth0.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("eth0: %+v", eth0.Attrs())
	}
	routes, _ := h.RouteList(nil, netlink.FAMILY_V4)
	var def bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.String() == "10.89.0.1" {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route via the gateway: %v", routes)
	}

	serveTCP(t, a.NetNS, "0.0.0.0:8080", "hello from a")
	serveUDP(t, a.NetNS, "0.0.0.0:9090", "udp from a")
	if got, err := fetchTCP(b.NetNS, "10.89.0.2:8080", 5*time.Second); err != nil || got != "hello from a" {
		t.Errorf("b -> a over TCP: %q, %v", got, err)
	}
	if got, err := fetchUDP(b.NetNS, "10.89.0.2:9090", 5*time.Second); err != nil || got != "udp from a" {
		t.Errorf("b -> a over UDP: %q, %v", got, err)
	}
	// The host reaches containers too (berth run's port checks, tests).
	if got, err := fetchTCP(m.host.path, "10.89.0.2:8080", 5*time.Second); err != nil || got != "hello from a" {
		t.Errorf("host -> a: %q, %v", got, err)
	}

	// Idempotent: the same request again changes nothing.
	again, err := m.Attach(context.Background(), "aaaa", []AttachRequest{{Network: "app", Names: []string{"a"}}})
	if err != nil || again.Endpoints[0].IP != a.Endpoints[0].IP {
		t.Errorf("attaching again: %+v, %v", again, err)
	}
	// A network with endpoints is not removed.
	var inUse *InUseError
	if err := m.Remove("app"); !errors.As(err, &inUse) || len(inUse.Sandboxes) != 2 {
		t.Errorf("removing a network in use: %v", err)
	}
	got, _ := m.Get("app")
	if len(got.Endpoints) != 2 {
		t.Errorf("inspect shows %d endpoints, want 2", len(got.Endpoints))
	}
}

func TestAttach_StaticIPAndSeveralNetworks(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "front", Subnet: netip.MustParsePrefix("10.77.0.0/24")})
	createNetwork(t, m, NetworkConfig{Name: "back"})
	sb := attach(t, m, "multi",
		AttachRequest{Network: "front", IP: netip.MustParseAddr("10.77.0.50")},
		AttachRequest{Network: "back"})
	if len(sb.Endpoints) != 2 || sb.Endpoints[0].Interface != "eth0" || sb.Endpoints[1].Interface != "eth1" ||
		sb.Endpoints[0].IP.String() != "10.77.0.50" || sb.Endpoints[1].Subnet.String() != "10.89.0.0/24" {
		t.Fatalf("endpoints: %+v", sb.Endpoints)
	}
	_, err := m.Attach(context.Background(), "other", []AttachRequest{{Network: "front", IP: netip.MustParseAddr("10.77.0.50")}})
	if !errors.Is(err, ErrAddressInUse) {
		t.Errorf("taking a taken address: %v", err)
	}
	if _, err := m.Create(NetworkConfig{Name: "clash", Subnet: netip.MustParsePrefix("10.77.0.0/16")}); !errors.Is(err, ErrSubnetOverlap) {
		t.Errorf("an overlapping subnet: %v", err)
	}
	if _, err := m.Attach(context.Background(), "lost", []AttachRequest{{Network: "nosuch"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("attaching to a missing network: %v", err)
	}
}

func TestIsolation(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "one"})
	createNetwork(t, m, NetworkConfig{Name: "two"})
	createNetwork(t, m, NetworkConfig{Name: "vault", Internal: true})
	a := attach(t, m, "a", AttachRequest{Network: "one"})
	b := attach(t, m, "b", AttachRequest{Network: "two"})
	v := attach(t, m, "v", AttachRequest{Network: "vault"})
	for _, sb := range []*Sandbox{a, b, v} {
		serveTCP(t, sb.NetNS, "0.0.0.0:8080", "hi")
	}
	ipOf := func(sb *Sandbox) string { return sb.Endpoints[0].IP.String() + ":8080" }
	short := 700 * time.Millisecond
	for _, c := range []struct {
		name     string
		from, to *Sandbox
	}{{"one to two", a, b}, {"two to one", b, a}, {"one to internal", a, v}, {"internal to one", v, a}} {
		if got, err := fetchTCP(c.from.NetNS, ipOf(c.to), short); err == nil {
			t.Errorf("%s: got %q through; networks must be isolated", c.name, got)
		}
	}
	// An outside host routed to a container's subnet gets nowhere either.
	outside := outsideHost(t, m)
	if got, err := fetchTCP(outside, ipOf(a), short); err == nil {
		t.Errorf("outside to a container directly: got %q through", got)
	}

	// The host's own services are closed to containers; DNS is not.
	serveTCP(t, m.host.path, "0.0.0.0:7000", "engine")
	serveTCP(t, m.host.path, "0.0.0.0:53", "dns")
	gw := a.Endpoints[0].Gateway.String()
	if got, err := fetchTCP(a.NetNS, gw+":7000", short); err == nil {
		t.Errorf("container to a host socket: got %q through", got)
	}
	if got, err := fetchTCP(a.NetNS, gw+":53", 5*time.Second); err != nil || got != "dns" {
		t.Errorf("container to the gateway's DNS port: %q, %v", got, err)
	}
	if got, err := fetchTCP(a.NetNS, b.Endpoints[0].Gateway.String()+":53", short); err == nil {
		t.Errorf("container to another network's DNS: got %q through", got)
	}
}

// outsideHost makes a namespace standing for another machine on the
// host's LAN: 192.0.2.2/24 on a veth whose other end is 192.0.2.1 in the
// host namespace, with routes to berth's pool through the host.
func outsideHost(t *testing.T, m *Manager) string {
	t.Helper()
	ns := newNetNS(t)
	h, err := m.host.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	f, err := os.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "lan0"}, PeerName: "lan0", PeerNamespace: netlink.NsFd(int(f.Fd()))}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteLink(h2(t, m), "lan0") })
	mustAddr(t, h, "lan0", "192.0.2.1/24")
	in, err := nsHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	mustAddr(t, in, "lan0", "192.0.2.2/24")
	lan, _ := in.LinkByName("lan0")
	_, pool, _ := net.ParseCIDR("10.89.0.0/16")
	if err := in.RouteAdd(&netlink.Route{LinkIndex: lan.Attrs().Index, Dst: pool, Gw: net.ParseIP("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func h2(t *testing.T, m *Manager) *netlink.Handle {
	h, err := m.host.handle()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustAddr(t *testing.T, h *netlink.Handle, link, cidr string) {
	t.Helper()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := netlink.ParseAddr(cidr)
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

func TestPublish(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "web"})
	sb := attach(t, m, "srv", AttachRequest{Network: "web"})
	client := attach(t, m, "cli", AttachRequest{Network: "web"})
	serveTCP(t, sb.NetNS, "0.0.0.0:80", "tcp works")
	serveUDP(t, sb.NetNS, "0.0.0.0:53", "udp works")
	port := freeHostPort(t, m.host.path)
	bs, err := m.Publish("srv", []PortMapping{
		{HostPort: port, ContainerPort: 80, Protocol: "tcp"},
		{HostPort: port, ContainerPort: 53, Protocol: "udp"},
		{ContainerPort: 80, Protocol: "tcp"}, // a port of the kernel's choosing
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 || bs[2].HostPort == 0 || bs[0].ContainerIP != sb.Endpoints[0].IP {
		t.Fatalf("bindings: %v", bs)
	}
	loop := func(p uint16) string { return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p).String() }
	host := m.host.path
	if got, err := fetchTCP(host, loop(port), 5*time.Second); err != nil || got != "tcp works" {
		t.Errorf("host loopback, TCP: %q, %v", got, err)
	}
	if got, err := fetchUDP(host, loop(port), 5*time.Second); err != nil || got != "udp works" {
		t.Errorf("host loopback, UDP: %q, %v", got, err)
	}
	if got, err := fetchTCP(host, loop(bs[2].HostPort), 5*time.Second); err != nil || got != "tcp works" {
		t.Errorf("host loopback, picked port %d: %q, %v", bs[2].HostPort, got, err)
	}
	outside := outsideHost(t, m)
	lanAddr := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port).String()
	if got, err := fetchTCP(outside, lanAddr, 5*time.Second); err != nil || got != "tcp works" {
		t.Errorf("another host, TCP: %q, %v", got, err)
	}
	// A container on the same network, through the host's address (hairpin).
	if got, err := fetchTCP(client.NetNS, netip.AddrPortFrom(sb.Endpoints[0].Gateway, port).String(), 5*time.Second); err != nil || got != "tcp works" {
		t.Errorf("neighbour through the published port: %q, %v", got, err)
	}

	// Taken ports: by another sandbox, and by a process on the host.
	other := attach(t, m, "other", AttachRequest{Network: "web"})
	var pc *PortConflictError
	if _, err := m.Publish("other", []PortMapping{{HostPort: port, ContainerPort: 80, Protocol: "tcp"}}); !errors.As(err, &pc) || !strings.Contains(pc.Holder, "container srv") {
		t.Errorf("a port another sandbox publishes: %v", err)
	}
	busy := freeHostPort(t, host)
	serveTCP(t, host, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), busy).String(), "mine")
	_, err = m.Publish("other", []PortMapping{{HostPort: busy, ContainerPort: 80, Protocol: "tcp"}})
	if !errors.As(err, &pc) || !strings.Contains(pc.Holder, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), strconv.Itoa(int(busy))) {
		t.Errorf("a port a host process holds: %v", err)
	}
	_ = other

	// Unpublished with the sandbox.
	if err := m.Detach("srv"); err != nil {
		t.Fatal(err)
	}
	if got, err := fetchTCP(host, loop(port), 700*time.Millisecond); err == nil {
		t.Errorf("after detach, the port still leads somewhere: %q", got)
	}
}
