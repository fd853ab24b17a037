package dnsserver

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/berthproject/berth/network"
)

// fakeRecords is a Records from a table: network -> name -> addresses.
type fakeRecords map[string]map[string][]netip.Addr

func (f fakeRecords) LookupName(netName string, _ netip.Addr, name string) []netip.Addr {
	return f[netName][name]
}

func (f fakeRecords) LookupAddr(netName string, ip netip.Addr) []string {
	var out []string
	for name, ips := range f[netName] {
		if slices.Contains(ips, ip) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out[:min(1, len(out))]
}

func (f fakeRecords) Owns(ip netip.Addr) bool {
	return netip.MustParsePrefix("10.89.0.0/16").Contains(ip)
}

// startUpstream runs a fake upstream DNS server on 127.0.0.1 (UDP and TCP,
// one port) that knows example.com and big.example.com (60 A records,
// more than fit in 512 bytes) and says NXDOMAIN to the rest.
func startUpstream(t *testing.T, listen func(network, addr string) (net.PacketConn, net.Listener)) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch strings.ToLower(q.Name) {
		case "example.com.":
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: net.IPv4(192, 0, 2, 10)})
		case "big.example.com.":
			for i := range 60 {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: net.IPv4(192, 0, 2, byte(i+1))})
			}
			if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
				m.Truncate(dns.MinMsgSize)
			}
		default:
			m.SetRcode(r, dns.RcodeNameError)
		}
		_ = w.WriteMsg(m)
	})
	pc, l := listen("udp4", "127.0.0.1:0")
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// loopbackListen opens a UDP socket and a TCP listener on one free port.
func loopbackListen(t *testing.T) func(string, string) (net.PacketConn, net.Listener) {
	return func(_, addr string) (net.PacketConn, net.Listener) {
		for range 20 {
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp4", pc.LocalAddr().String())
			if err == nil {
				return pc, l
			}
			pc.Close()
		}
		t.Fatal("no free port for a fake upstream")
		return nil, nil
	}
}

// serveOn serves s for netName on a loopback port, UDP and TCP, the way
// Serve does on a gateway.
func serveOn(t *testing.T, s *Server, netName string, internal bool) string {
	pc, l := loopbackListen(t)("udp4", "127.0.0.1:0")
	udp := make(chan error, 1)
	go func() { udp <- s.ServeUDP(pc.(*net.UDPConn), netName, internal) }()
	tcp := &dns.Server{Listener: l, Handler: s.Handler(netName, internal)}
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		pc.Close()
		if err := <-udp; err != nil {
			t.Errorf("ServeUDP ended with %v after its socket closed, want nil", err)
		}
		_ = tcp.Shutdown()
	})
	return pc.LocalAddr().String()
}

func query(t *testing.T, server, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: proto}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("querying %s %s over %s: %v", name, dns.TypeToString[qtype], proto, err)
	}
	return r
}

func answerIPs(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func TestDNSServer_Answers(t *testing.T) {
	a := netip.MustParseAddr
	rec := fakeRecords{
		"app": {
			"web": {a("10.89.0.2")},
			"db":  {a("10.89.0.3")},
			"api": {a("10.89.0.4"), a("10.89.0.5"), a("10.89.0.6")}, // an alias of three replicas
		},
	}
	var many []netip.Addr
	for i := range 60 {
		many = append(many, a(fmt.Sprintf("10.89.1.%d", i+2)))
	}
	rec["app"]["crowd"] = many
	upstream := startUpstream(t, loopbackListen(t))
	s := New(rec, []string{upstream})
	srv := serveOn(t, s, "app", false)
	internal := serveOn(t, s, "app", true)

	t.Run("name", func(t *testing.T) {
		r := query(t, srv, "udp", "web", dns.TypeA)
		if got := answerIPs(r); r.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"10.89.0.2"}) {
			t.Errorf("web: rcode %d, %v", r.Rcode, got)
		}
		if r.Answer[0].Header().Ttl != TTL {
			t.Errorf("ttl %d, want %d", r.Answer[0].Header().Ttl, TTL)
		}
	})
	t.Run("name in berth's domain", func(t *testing.T) {
		r := query(t, srv, "udp", "DB."+network.Domain, dns.TypeA)
		if got := answerIPs(r); !slices.Equal(got, []string{"10.89.0.3"}) {
			t.Errorf("db.%s: %v", network.Domain, got)
		}
	})
	t.Run("several holders, rotated", func(t *testing.T) {
		first := map[string]bool{}
		for range 3 {
			got := answerIPs(query(t, srv, "udp", "api", dns.TypeA))
			sorted := slices.Sorted(slices.Values(got))
			if !slices.Equal(sorted, []string{"10.89.0.4", "10.89.0.5", "10.89.0.6"}) {
				t.Fatalf("api: %v", got)
			}
			first[got[0]] = true
		}
		if len(first) != 3 {
			t.Errorf("three queries started with %v; want each address once", first)
		}
	})
	t.Run("AAAA of a known name is empty, not an error", func(t *testing.T) {
		r := query(t, srv, "udp", "web", dns.TypeAAAA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Errorf("rcode %d, %d answers", r.Rcode, len(r.Answer))
		}
	})
	t.Run("PTR", func(t *testing.T) {
		r := query(t, srv, "udp", "2.0.89.10.in-addr.arpa", dns.TypePTR)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "web." {
			t.Errorf("PTR: %v", r.Answer)
		}
		if r := query(t, srv, "udp", "99.0.89.10.in-addr.arpa", dns.TypePTR); r.Rcode != dns.RcodeNameError {
			t.Errorf("PTR of a free address in berth's subnets: rcode %d, want NXDOMAIN", r.Rcode)
		}
	})
	t.Run("NXDOMAIN", func(t *testing.T) {
		for _, name := range []string{"nosuch." + network.Domain, "nosuch"} {
			if r := query(t, srv, "udp", name, dns.TypeA); r.Rcode != dns.RcodeNameError {
				t.Errorf("%s: rcode %d, want NXDOMAIN", name, r.Rcode)
			}
		}
	})
	t.Run("forwarded", func(t *testing.T) {
		r := query(t, srv, "udp", "example.com", dns.TypeA)
		if got := answerIPs(r); !slices.Equal(got, []string{"192.0.2.10"}) {
			t.Errorf("example.com: rcode %d, %v", r.Rcode, got)
		}
		if r := query(t, srv, "udp", "nosuch.example.com", dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("upstream's NXDOMAIN came back as rcode %d", r.Rcode)
		}
	})
	t.Run("internal networks forward nothing", func(t *testing.T) {
		if r := query(t, internal, "udp", "example.com", dns.TypeA); r.Rcode != dns.RcodeRefused {
			t.Errorf("rcode %d, want REFUSED", r.Rcode)
		}
		if got := answerIPs(query(t, internal, "udp", "web", dns.TypeA)); len(got) != 1 {
			t.Errorf("names still answer on internal networks, got %v", got)
		}
	})
	t.Run("truncated over UDP, whole over TCP", func(t *testing.T) {
		for _, name := range []string{"crowd", "big.example.com"} {
			r := query(t, srv, "udp", name, dns.TypeA)
			if !r.Truncated {
				t.Errorf("%s over UDP: %d answers and no TC bit", name, len(r.Answer))
			}
			r = query(t, srv, "tcp", name, dns.TypeA)
			if r.Truncated || len(r.Answer) != 60 {
				t.Errorf("%s over TCP: TC=%v, %d answers, want 60", name, r.Truncated, len(r.Answer))
			}
		}
	})
}

func TestReadNameservers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	content := "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver fd00::1\nsearch example.com\noptions edns0 trust-ad\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readNameservers(p)
	want := []string{"127.0.0.53:53", "192.0.2.1:53", "[fd00::1]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v (a resolver on the host's loopback is kept: berth forwards from the host)", got, want)
	}
}
