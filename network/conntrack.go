package network

import (
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Forgetting a sandbox's connections means reading the host namespace's
// whole connection tracking table: every bucket of it (262144 on a host
// with a few GB of memory), some 4-10 ms of CPU however few entries
// there are. The detaches of a stack's containers come together, so the
// detaches of one process on one host namespace share reads: while a
// read runs, the addresses that come in gather into the next one, which
// the first of them makes once the running read is done.

// conntrackSweeps holds a *conntrackSweep per host namespace path.
var conntrackSweeps sync.Map

type conntrackSweep struct {
	reading sync.Mutex // held while a batch is read and deleted

	mu   sync.Mutex
	next *conntrackBatch // the batch gathering addresses; nil when none is
}

type conntrackBatch struct {
	ips  []netip.Addr
	done chan struct{} // closed once their entries are gone
}

// forgetConntrack drops the connection tracking entries to and from ip,
// so an address handed out again inherits no NAT mappings of its last
// owner. h is a handle in the host namespace.
func (hn hostNS) forgetConntrack(h *netlink.Handle, ip netip.Addr) {
	v, _ := conntrackSweeps.LoadOrStore(hn.path, &conntrackSweep{})
	s := v.(*conntrackSweep)
	s.mu.Lock()
	if s.next == nil {
		s.next = &conntrackBatch{done: make(chan struct{})}
	}
	b := s.next
	b.ips = append(b.ips, ip)
	first := len(b.ips) == 1
	s.mu.Unlock()
	if !first {
		<-b.done
		return
	}
	s.reading.Lock()
	s.mu.Lock()
	s.next = nil // addresses from now on gather into a batch of their own
	s.mu.Unlock()
	deleteConntrack(h, b.ips)
	s.reading.Unlock()
	close(b.done)
}

// deleteConntrack deletes the entries to or from any of ips, reading the
// table once: an entry matching any filter goes.
func deleteConntrack(h *netlink.Handle, ips []netip.Addr) {
	var fs []netlink.CustomConntrackFilter
	for _, ip := range ips {
		for _, t := range []netlink.ConntrackFilterType{netlink.ConntrackOrigSrcIP, netlink.ConntrackOrigDstIP, netlink.ConntrackReplySrcIP} {
			f := &netlink.ConntrackFilter{}
			if f.AddIP(t, ip.AsSlice()) == nil {
				fs = append(fs, f)
			}
		}
	}
	_, _ = h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, fs...)
}
