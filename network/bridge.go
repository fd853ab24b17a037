package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkAlias marks the links berth makes (IFLA_IFALIAS), so cleanup can
// tell them from everyone else's without trusting names alone.
const linkAlias = "berth"

// bridgeName is a network's bridge: "br-" and the first 12 hex digits of
// its id, as Docker names user networks' bridges (15 bytes, the most a
// link name holds).
func bridgeName(id string) string { return "br-" + id[:12] }

// macFor derives a link's MAC address from its IPv4 address, as Docker
// does (02:42 and the four address bytes): locally administered, unique
// per address, and the same when the address comes back, so neighbours'
// ARP caches stay right.
func macFor(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// ensureBridge makes n's bridge, with its gateway address, up, unless it
// is there already. Idempotent: after a reboot, or a crash half-way
// through Create, it finishes the job.
//
// Preconditions: state lock held.
func (m *Manager) ensureBridge(n networkRecord) error {
	h, err := m.host.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(n.Bridge)
	if _, missing := err.(netlink.LinkNotFoundError); missing {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{
			Name: n.Bridge, HardwareAddr: macFor(n.Gateway),
		}}
		// With no IPv6 the bridge offers containers no link-local way
		// to the host, which the IPv4-only input rules would not cover.
		if err := m.host.do(func() error {
			if err := h.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("creating bridge %s: %w", n.Bridge, err)
			}
			return disableIPv6(n.Bridge)
		}); err != nil {
			return err
		}
		link, err = h.LinkByName(n.Bridge)
	}
	if err != nil {
		return fmt.Errorf("finding bridge %s: %w", n.Bridge, err)
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("link %s exists and is a %s, not berth's bridge", n.Bridge, link.Type())
	}
	// The kernel takes no alias at creation; a crash before this line
	// leaves a bridge Cleanup does not know for berth's, and the next
	// ensureBridge marks it.
	if link.Attrs().Alias != linkAlias {
		if err := h.LinkSetAlias(link, linkAlias); err != nil {
			return fmt.Errorf("marking bridge %s: %w", n.Bridge, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{
		IP: n.Gateway.AsSlice(), Mask: net.CIDRMask(n.Subnet.Bits(), 32),
	}}
	if err := h.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("adding gateway %s to bridge %s: %w", n.Gateway, n.Bridge, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing bridge %s up: %w", n.Bridge, err)
	}
	// route_localnet lets connections to a published port on 127.0.0.1
	// be routed out of the bridge (and their answers back in); they are
	// masqueraded to the gateway's address on the way (see nft.go).
	return m.host.do(func() error {
		if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
		return writeSysctl("net/ipv4/conf/"+n.Bridge+"/route_localnet", "1")
	})
}

func disableIPv6(link string) error {
	err := writeSysctl("net/ipv6/conf/"+link+"/disable_ipv6", "1")
	if err != nil && strings.Contains(err.Error(), "no such file") {
		return nil // a kernel without IPv6
	}
	return err
}

// deleteLink removes the named link when it exists and is berth's.
func deleteLink(h *netlink.Handle, name string) error {
	link, err := h.LinkByName(name)
	if _, missing := err.(netlink.LinkNotFoundError); missing {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finding link %s: %w", name, err)
	}
	if err := h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting link %s: %w", name, err)
	}
	return nil
}

// hostRoutes are the IPv4 destinations the host routes anywhere but
// through berth's bridges, and its own addresses: subnets a new network
// must not take.
func (m *Manager) hostRoutes() ([]netip.Prefix, error) {
	h, err := m.host.handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	routes, err := dumped(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("listing the host's routes: %w", err)
	}
	ours := map[int]bool{}
	if links, err := dumped(h.LinkList); err == nil {
		for _, l := range links {
			if l.Attrs().Alias == linkAlias {
				ours[l.Attrs().Index] = true
			}
		}
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil || ours[r.LinkIndex] {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok || ones == 0 || a.IsLoopback() {
			continue
		}
		out = append(out, netip.PrefixFrom(a, ones).Masked())
	}
	return out, nil
}
