package dnsserver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A query waiting on a slow upstream must not hold up the answers for
// berth's own names: ServeUDP answers those inline, so forwarding has to
// happen beside the loop, not in it.
func TestServeUDP_SlowUpstreamDoesNotBlockLocalNames(t *testing.T) {
	stuck := make(chan struct{})
	asked := make(chan struct{}, 1)
	pc, l := loopbackListen(t)("udp4", "127.0.0.1:0")
	slow := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		asked <- struct{}{}
		<-stuck // never answers while the test runs
	})}
	l.Close()
	go func() { _ = slow.ActivateAndServe() }()
	t.Cleanup(func() {
		close(stuck)
		_ = slow.Shutdown()
	})

	s := New(fakeRecords{"app": {"web": {netip.MustParseAddr("10.89.0.2")}}}, []string{pc.LocalAddr().String()})
	s.Timeout = time.Minute // longer than the client below waits
	srv := serveOn(t, s, "app", false)

	c, err := net.Dial("udp", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	b, _ := q.Pack()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the query for example.com never reached the upstream")
	}
	// The upstream now holds a forwarded query; a local name still answers.
	r := query(t, srv, "udp", "web", dns.TypeA)
	if got := answerIPs(r); len(got) != 1 || got[0] != "10.89.0.2" {
		t.Errorf("web while a forward waits: rcode %d, %v", r.Rcode, got)
	}
}

func TestServeUDP_Malformed(t *testing.T) {
	s := New(fakeRecords{"app": {"web": {netip.MustParseAddr("10.89.0.2")}}}, []string{})
	srv := serveOn(t, s, "app", false)
	c, err := net.Dial("udp", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))

	// A header claiming a question that is not there: FORMERR, same id.
	garbage := []byte{0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xFF}
	if _, err := c.Write(garbage); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no answer to a malformed query: %v", err)
	}
	var r dns.Msg
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("the answer to a malformed query does not parse: %v", err)
	}
	if r.Id != 0xABCD || !r.Response || r.Rcode != dns.RcodeFormatError {
		t.Errorf("got id %#x response=%v rcode %d, want id 0xabcd, a response, FORMERR", r.Id, r.Response, r.Rcode)
	}

	// A response sent to the server is not answered (no reflection
	// loops); the server goes on answering queries after it.
	resp := new(dns.Msg)
	resp.SetQuestion("web.", dns.TypeA)
	resp.Response = true
	b, _ := resp.Pack()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("web.", dns.TypeA)
	q.Id = 0x1234
	b, _ = q.Pack()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	n, err = c.Read(buf)
	if err != nil {
		t.Fatalf("no answer after a stray response: %v", err)
	}
	if err := r.Unpack(buf[:n]); err != nil || r.Id != 0x1234 {
		t.Errorf("first packet back has id %#x (err %v), want 0x1234: the stray response was answered", r.Id, err)
	}
}
