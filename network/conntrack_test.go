package network

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

// Detaches that forget their addresses' connections at once share reads
// of the table, and each still finds its entries gone when it returns;
// other addresses' entries stay.
func TestForgetConntrack_Concurrent(t *testing.T) {
	testutil.RequireRoot(t)
	host := hostNS{path: newNetNS(t)}
	h, err := host.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	flow := func(src, dst string) *netlink.ConntrackFlow {
		s, d := net.ParseIP(src).To4(), net.ParseIP(dst).To4()
		return &netlink.ConntrackFlow{
			FamilyType: unix.AF_INET,
			Forward:    netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: s, DstIP: d, SrcPort: 40000, DstPort: 53},
			Reverse:    netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: d, DstIP: s, SrcPort: 53, DstPort: 40000},
			TimeOut:    300,
		}
	}
	var gone []netip.Addr
	for i := range 10 {
		ip := netip.MustParseAddr(fmt.Sprintf("10.77.0.%d", 10+i))
		gone = append(gone, ip)
		if err := h.ConntrackCreate(netlink.ConntrackTable, unix.AF_INET, flow(ip.String(), "10.77.0.1")); err != nil {
			t.Skipf("cannot make conntrack entries here: %v", err)
		}
	}
	if err := h.ConntrackCreate(netlink.ConntrackTable, unix.AF_INET, flow("10.77.0.99", "10.77.0.1")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, ip := range gone {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hh, err := host.handle()
			if err != nil {
				t.Error(err)
				return
			}
			defer hh.Close()
			host.forgetConntrack(hh, ip)
		}()
	}
	wg.Wait()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, f := range flows {
		left[f.Forward.SrcIP.String()] = true
	}
	for _, ip := range gone {
		if left[ip.String()] {
			t.Errorf("the entry of %s is still there", ip)
		}
	}
	if !left["10.77.0.99"] {
		t.Error("an entry of another address went too")
	}
}
