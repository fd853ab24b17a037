package dnsserver

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/berthproject/berth/network"
)

// TTL is the time to live of berth's own answers, in seconds: short, so
// a replaced container's new address is seen soon.
const TTL = 5

// Server answers containers' queries: berth's names from Records,
// everything else forwarded to the host's resolvers. One server serves
// every network; Handler gives each listener its network.
type Server struct {
	rec       network.Records
	upstreams func() []string
	// Dial opens connections to upstream servers; tests and a host in
	// another namespace replace it.
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout time.Duration // per upstream try; 2 s by default
	rot     atomic.Uint32
}

// New returns a server answering from rec. upstreams are
// "IP" or "IP:PORT"; nil means the nameservers of the host's
// /etc/resolv.conf, read again whenever the file changes. A resolver on
// the host's loopback (127.0.0.53) works: forwarding happens on the host.
func New(rec network.Records, upstreams []string) *Server {
	s := &Server{rec: rec, Timeout: 2 * time.Second, Dial: (&net.Dialer{}).DialContext}
	if upstreams != nil {
		fixed := normalizeUpstreams(upstreams)
		s.upstreams = func() []string { return fixed }
	} else {
		s.upstreams = (&resolvConfWatch{path: "/etc/resolv.conf"}).servers
	}
	return s
}

// Handler answers queries arriving on the listeners of the network named
// netName. Queries on an internal network are never forwarded. Serve
// uses it for TCP; UDP goes through ServeUDP, which answers berth's own
// names without a goroutine per query.
func (s *Server) Handler(netName string, internal bool) dns.Handler {
	return dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		from, _ := netip.ParseAddrPort(w.RemoteAddr().String())
		resp, fwd := s.answer(netName, from.Addr().Unmap(), internal, r)
		if fwd {
			resp = s.forwardOrFail(r, tcp)
		}
		if resp == nil {
			return
		}
		if !tcp {
			truncateFor(resp, r)
		}
		_ = w.WriteMsg(resp)
	})
}

// truncateFor cuts resp to what the asker of r takes over UDP: too big
// for its buffer, TC is set and answers dropped, and the client asks
// again over TCP.
func truncateFor(resp, r *dns.Msg) {
	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
		size = int(opt.UDPSize())
	}
	resp.Truncate(size)
}

// answer works out the reply to r from berth's records, without touching
// the network. nil means "say nothing" (a response, not a query); forward
// means r is for the upstreams (only asked when the network is not
// internal).
func (s *Server) answer(netName string, from netip.Addr, internal bool, r *dns.Msg) (resp *dns.Msg, forward bool) {
	if r.Response {
		return nil, false
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = !internal
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 {
		m.SetRcode(r, dns.RcodeNotImplemented)
		return m, false
	}
	q := r.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	if q.Qtype == dns.TypePTR || strings.HasSuffix(name, ".in-addr.arpa") {
		if ip, ok := ptrAddr(name); ok {
			if names := s.rec.LookupAddr(netName, ip); len(names) > 0 {
				m.Authoritative = true
				if q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY {
					for _, n := range names {
						m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr(q.Name, dns.TypePTR), Ptr: dns.Fqdn(n)})
					}
				}
				return withEDNS(m, r), false
			}
			if s.rec.Owns(ip) {
				return nxdomain(m, r), false
			}
		}
		return s.upstreamOrRefuse(m, r, internal)
	}
	local, inDomain := strings.CutSuffix(name, "."+network.Domain)
	addrs := s.rec.LookupName(netName, from, local)
	if len(addrs) > 0 {
		m.Authoritative = true
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
			// Rotated, so clients that take the first spread over all.
			k := int(s.rot.Add(1)) % len(addrs)
			for i := range addrs {
				ip := addrs[(k+i)%len(addrs)]
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: ip.AsSlice()})
			}
		}
		return withEDNS(m, r), false // other types: the name exists, with no data
	}
	// Unknown names in berth's domain, and unknown single labels, end
	// here: forwarding them would only leak container names upstream.
	if inDomain || name == network.Domain || !strings.Contains(name, ".") {
		return nxdomain(m, r), false
	}
	return s.upstreamOrRefuse(m, r, internal)
}

// upstreamOrRefuse is answer's way out for names berth does not own:
// refused on an internal network, forwarded on the others.
func (s *Server) upstreamOrRefuse(m, r *dns.Msg, internal bool) (*dns.Msg, bool) {
	if internal {
		m.SetRcode(r, dns.RcodeRefused)
		return withEDNS(m, r), false
	}
	return nil, true
}

// forwardOrFail asks the upstreams; SERVFAIL when none answers.
func (s *Server) forwardOrFail(r *dns.Msg, tcp bool) *dns.Msg {
	if resp := s.forward(r, tcp); resp != nil {
		return resp
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	return withEDNS(m, r)
}

// forward asks the upstreams in turn, over the transport the query came
// by; a truncated UDP answer is asked again over TCP, so the client gets
// all of it if it can take it.
func (s *Server) forward(r *dns.Msg, tcp bool) *dns.Msg {
	for _, up := range s.upstreams() {
		resp, err := s.exchange(r, up, tcp)
		if err == nil && resp.Truncated && !tcp {
			if full, err := s.exchange(r, up, true); err == nil {
				resp = full
			}
		}
		if err == nil {
			return resp
		}
	}
	return nil
}

func (s *Server) exchange(r *dns.Msg, upstream string, tcp bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	proto := "udp"
	if tcp {
		proto = "tcp"
	}
	conn, err := s.Dial(ctx, proto, upstream)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	co := &dns.Conn{Conn: conn, UDPSize: dns.MaxMsgSize}
	if err := co.WriteMsg(r); err != nil {
		return nil, err
	}
	for {
		resp, err := co.ReadMsg()
		if err != nil {
			return nil, err
		}
		if resp.Id == r.Id {
			return resp, nil
		}
	}
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
}

func nxdomain(m, r *dns.Msg) *dns.Msg {
	m.Authoritative = true
	m.SetRcode(r, dns.RcodeNameError)
	return withEDNS(m, r)
}

// withEDNS answers EDNS with EDNS, as RFC 6891 asks.
func withEDNS(m, r *dns.Msg) *dns.Msg {
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(max(opt.UDPSize(), dns.MinMsgSize), false)
	}
	return m
}

// ptrAddr reads the IPv4 address of a d.c.b.a.in-addr.arpa name.
func ptrAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	p := strings.Split(rest, ".")
	if len(p) != 4 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
	return ip, err == nil
}
