package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkAnswerA is the work ServeUDP does per query for a container's
// name, short of the two system calls: parse, look up, pack.
func BenchmarkAnswerA(b *testing.B) {
	s := New(fakeRecords{"app": {"web": {netip.MustParseAddr("10.89.0.2")}}}, []string{})
	q := new(dns.Msg)
	q.SetQuestion("web.", dns.TypeA)
	pkt, _ := q.Pack()
	out := make([]byte, 0, dns.MaxMsgSize)
	from := netip.MustParseAddr("10.89.0.9")
	b.ReportAllocs()
	for b.Loop() {
		r := new(dns.Msg)
		if err := r.Unpack(pkt); err != nil {
			b.Fatal(err)
		}
		resp, _ := s.answer("app", from, false, r)
		truncateFor(resp, r)
		var err error
		if out, err = resp.PackBuffer(out[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
