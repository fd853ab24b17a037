package network

import (
	"fmt"
	"net/netip"
)

// The IPAM is two pure functions over what the records say is taken: the
// records are the allocations (see sandboxRecord), read and written under
// the state lock, so an address is never handed out twice, across
// processes too, and a crash never leaks one for good.

// allocSubnet returns the first block of /size in pool that overlaps none
// of taken (other networks' subnets and the host's routes).
func allocSubnet(pool netip.Prefix, size int, taken []netip.Prefix) (netip.Prefix, error) {
	pool = pool.Masked()
	step := uint32(1) << (32 - size)
	first := v4(pool.Addr())
	count := uint64(1) << (size - pool.Bits())
	for i := uint64(0); i < count; i++ {
		p := netip.PrefixFrom(fromV4(first+uint32(i)*step), size)
		if !overlapsAny(p, taken) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w (%s in /%d blocks)", ErrPoolExhausted, pool, size)
}

func overlapsAny(p netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if o.IsValid() && p.Overlaps(o) {
			return true
		}
	}
	return false
}

// allocIP returns want when it is free in subnet, or, with no want, the
// lowest free address. The network and broadcast addresses and the
// gateway are never handed out.
func allocIP(subnet netip.Prefix, gateway netip.Addr, used map[netip.Addr]bool, want netip.Addr) (netip.Addr, error) {
	first, last := hostRange(subnet)
	if want.IsValid() {
		switch {
		case !subnet.Contains(want) || v4(want) < first || v4(want) > last:
			return netip.Addr{}, invalid("address %s is not a host address of subnet %s", want, subnet)
		case want == gateway:
			return netip.Addr{}, fmt.Errorf("address %s: %w (it is the gateway)", want, ErrAddressInUse)
		case used[want]:
			return netip.Addr{}, fmt.Errorf("address %s: %w", want, ErrAddressInUse)
		}
		return want, nil
	}
	for a := first; a <= last && a != 0; a++ {
		ip := fromV4(a)
		if ip != gateway && !used[ip] {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("subnet %s: %w", subnet, ErrSubnetFull)
}

// hostRange is the first and last host address of subnet.
func hostRange(subnet netip.Prefix) (first, last uint32) {
	base := v4(subnet.Masked().Addr())
	size := uint32(1) << (32 - subnet.Bits())
	if subnet.Bits() >= 31 {
		return base, base + size - 1
	}
	return base + 1, base + size - 2
}

// defaultGateway is the first host address of subnet, as Docker picks it.
func defaultGateway(subnet netip.Prefix) netip.Addr {
	first, _ := hostRange(subnet)
	return fromV4(first)
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromV4(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
