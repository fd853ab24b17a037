package dnsserver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/berthproject/berth/network"
)

// queryIn asks server a question from inside the namespace at ns.
func queryIn(t *testing.T, ns, proto, server, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	var c net.Conn
	if err := inNetNS(ns, func() (err error) { c, err = net.DialTimeout(proto, server, 2*time.Second); return err }); err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	co := &dns.Conn{Conn: c, UDPSize: dns.MaxMsgSize}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	return co.ReadMsg()
}

// serveDNS runs Serve until the test ends.
func serveDNS(t *testing.T, m *network.Manager, o Options) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, m, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestServe(t *testing.T) {
	m, host := testManager(t)
	createNetwork(t, m, network.NetworkConfig{Name: "app"})
	other := createNetwork(t, m, network.NetworkConfig{Name: "other"})
	web := attach(t, m, "web1", network.AttachRequest{Network: "app", Names: []string{"web"}, Aliases: []string{"svc"}})
	db := attach(t, m, "db1", network.AttachRequest{Network: "app", Names: []string{"db"}, Aliases: []string{"svc"}})
	attach(t, m, "dead1", network.AttachRequest{Network: "app", Names: []string{"dead"}, Aliases: []string{"svc"}})
	hidden := attach(t, m, "elsewhere", network.AttachRequest{Network: "other", Names: []string{"hidden"}})

	// The fake upstream listens on the host's loopback (the test's host
	// namespace), as a resolver on 127.0.0.53 would.
	upstream := startUpstream(t, func(network, addr string) (pc net.PacketConn, l net.Listener) {
		err := inNetNS(host, func() error {
			var err error
			pc, err = net.ListenPacket("udp4", addr)
			if err == nil {
				l, err = net.Listen("tcp4", pc.LocalAddr().String())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return pc, l
	})
	serveDNS(t, m, Options{Upstreams: []string{upstream}, Alive: func(id string) bool { return id != "dead1" }})

	server := web.Nameservers[0] + ":53"
	ns := web.NetNS
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := queryIn(t, ns, "udp", server, "web", dns.TypeA); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the DNS server never answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !m.DNSRunning() {
		t.Error("DNSRunning is false while a server runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := Serve(ctx, m, Options{}); !errors.Is(err, network.ErrDNSRunning) {
		t.Errorf("a second server: %v, want ErrDNSRunning", err)
	}

	ipsOf := func(network, name string) []string {
		t.Helper()
		r, err := queryIn(t, ns, network, server, name, dns.TypeA)
		if err != nil {
			t.Fatalf("%s over %s: %v", name, network, err)
		}
		got := answerIPs(r)
		slices.Sort(got)
		return got
	}
	ip := func(sb *network.Sandbox) string { return sb.Endpoints[0].IP.String() }
	if got := ipsOf("udp", "db"); !slices.Equal(got, []string{ip(db)}) {
		t.Errorf("db: %v", got)
	}
	if got := ipsOf("tcp", "web."+network.Domain); !slices.Equal(got, []string{ip(web)}) {
		t.Errorf("web.%s over TCP: %v", network.Domain, got)
	}
	// Both live holders of the alias; the dead one is left out.
	if got := ipsOf("udp", "svc"); !slices.Equal(got, []string{ip(web), ip(db)}) {
		t.Errorf("svc: %v, want %s and %s", got, ip(web), ip(db))
	}
	if got := ipsOf("udp", "example.com"); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Errorf("forwarded example.com: %v", got)
	}
	for _, name := range []string{"dead", "hidden", "nosuch." + network.Domain} {
		if r, err := queryIn(t, ns, "udp", server, name, dns.TypeA); err != nil || r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: %v %v, want NXDOMAIN", name, r, err)
		}
	}
	rev, _ := dns.ReverseAddr(ip(db))
	if r, err := queryIn(t, ns, "udp", server, rev, dns.TypePTR); err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "db." {
		t.Errorf("PTR of db: %v %v", r, err)
	}
	// A container that joins later answers at once.
	late := attach(t, m, "late1", network.AttachRequest{Network: "app", Names: []string{"late"}})
	if got := ipsOf("udp", "late"); !slices.Equal(got, []string{ip(late)}) {
		t.Errorf("late: %v", got)
	}
	// A container on both networks resolves the names of both, through
	// its first network's server.
	both := attach(t, m, "both1", network.AttachRequest{Network: "app", Names: []string{"both"}}, network.AttachRequest{Network: "other", Names: []string{"both"}})
	r, err := queryIn(t, both.NetNS, "udp", both.Nameservers[0]+":53", "hidden", dns.TypeA)
	if got := answerIPs(r); err != nil || !slices.Equal(got, []string{ip(hidden)}) {
		t.Errorf("hidden, asked from a container on app and other: %v %v", got, err)
	}
	// Another network's DNS is out of reach from this one.
	if _, err := queryIn(t, ns, "tcp", netip.AddrPortFrom(other.Gateway, 53).String(), "hidden", dns.TypeA); err == nil {
		t.Error("a container queried another network's DNS server")
	}
}

func TestServe_IdleExit(t *testing.T) {
	m, _ := testManager(t)
	createNetwork(t, m, network.NetworkConfig{Name: "app"})
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), m, Options{IdleExit: 200 * time.Millisecond}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve with IdleExit and no sandbox did not return")
	}
	if m.DNSRunning() {
		t.Error("DNSRunning after the server left")
	}
}
