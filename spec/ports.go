package spec

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// ports converts a service's published ports. compose-go has already
// turned the short syntax into long entries, one per container port
// ("8080-8081:80-81" is two); a host range for one container port
// ("8000-8010:80") stays a range for the engine to pick from.
func (c *converter) ports(s types.ServiceConfig, at []string) []PortBinding {
	var out []PortBinding
	// The index of an entry says nothing of where it was written: ranges
	// were expanded. Errors name the list and the port.
	path := at
	for _, p := range s.Ports {
		b := PortBinding{Protocol: strings.ToLower(p.Protocol)}
		if b.Protocol == "" {
			b.Protocol = "tcp"
		}
		switch b.Protocol {
		case "tcp", "udp", "sctp":
		default:
			c.fail(path, "use tcp, udp or sctp", "port %d: protocol %q is not supported", p.Target, p.Protocol)
		}
		if p.Target == 0 || p.Target > 65535 {
			c.fail(path, "a port is a number from 1 to 65535", "container port %d is out of range", p.Target)
		}
		b.ContainerPort = uint16(p.Target)
		if p.HostIP != "" {
			ip, err := netip.ParseAddr(strings.Trim(p.HostIP, "[]"))
			if err != nil {
				c.fail(path, `write an address, as "127.0.0.1:8080:80" or "[::1]:8080:80"`, "port %d: host address %q is not an IP address", p.Target, p.HostIP)
			}
			b.HostIP = ip
		}
		if p.Published != "" {
			lo, hi, ok := portRange(p.Published)
			if !ok {
				c.fail(path, `write a port (8080) or a range (8000-8010) from 1 to 65535`, "port %d: published port %q is not a port or a range", p.Target, p.Published)
			}
			b.HostPort = lo
			if hi != lo {
				b.HostPortEnd = hi
			}
		}
		out = append(out, b)
	}
	slices.SortFunc(out, comparePorts)
	return slices.Compact(out)
}

func comparePorts(a, b PortBinding) int {
	return cmp.Or(
		cmp.Compare(a.ContainerPort, b.ContainerPort),
		strings.Compare(a.Protocol, b.Protocol),
		a.HostIP.Compare(b.HostIP),
		cmp.Compare(a.HostPort, b.HostPort),
		cmp.Compare(a.HostPortEnd, b.HostPortEnd),
	)
}

// portRange parses "8080" or "8000-8010".
func portRange(s string) (lo, hi uint16, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	lo, ok = port(a)
	if !ok {
		return 0, 0, false
	}
	if !isRange {
		return lo, lo, true
	}
	hi, ok = port(b)
	if !ok || hi < lo {
		return 0, 0, false
	}
	return lo, hi, true
}

func port(s string) (uint16, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint16(n), true
}

// expose converts `expose:` entries: "3000", "3000/udp", "3000-3005".
func (c *converter) expose(list types.StringOrNumberList, at []string) []ContainerPort {
	var out []ContainerPort
	for i, e := range list {
		ports, proto, _ := strings.Cut(e, "/")
		proto = strings.ToLower(proto)
		if proto == "" {
			proto = "tcp"
		}
		lo, hi, ok := portRange(ports)
		if !ok || (proto != "tcp" && proto != "udp" && proto != "sctp") {
			c.fail(c.l.item(at, i), `write a port, a range or either with a protocol: "3000", "3000-3005", "3000/udp"`,
				"%q is not a port", e)
			continue
		}
		for p := int(lo); p <= int(hi); p++ {
			out = append(out, ContainerPort{Port: uint16(p), Protocol: proto})
		}
	}
	slices.SortFunc(out, func(a, b ContainerPort) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), strings.Compare(a.Protocol, b.Protocol))
	})
	return slices.Compact(out)
}

// checkPortConflicts refuses two services that publish the same host
// address and port, and a service with several replicas publishing one
// fixed host port: only one container could bind it.
func (c *converter) checkPortConflicts(st *Stack) {
	type use struct {
		svc string
		b   PortBinding
	}
	seen := map[string][]use{} // by "tcp/8080"
	for _, name := range st.ServiceNames() {
		svc := st.Services[name]
		at := []string{"services", name, "ports"}
		for _, b := range svc.Ports {
			if b.HostPort == 0 || b.HostPortEnd != 0 {
				continue
			}
			if svc.Replicas > 1 {
				c.fail(at, fmt.Sprintf("publish a range with a port per replica (\"%d-%d:%d\"), or leave the host port out to get a free one",
					b.HostPort, int(b.HostPort)+svc.Replicas-1, b.ContainerPort),
					"%d replicas cannot all publish %s %s", svc.Replicas, b.Protocol, b.hostAddr())
			}
			key := b.Protocol + "/" + strconv.Itoa(int(b.HostPort))
			for _, u := range seen[key] {
				if u.svc != name && addrsOverlap(u.b.HostIP, b.HostIP) {
					c.fail(at, "change the host port of one of them",
						"%s %s is also published by service %q", b.Protocol, b.hostAddr(), u.svc)
					break
				}
			}
			seen[key] = append(seen[key], use{name, b})
		}
	}
}

// addrsOverlap says whether binding a and b would clash: the same address,
// or one of them every address (of its family).
func addrsOverlap(a, b netip.Addr) bool {
	switch {
	case !a.IsValid() || !b.IsValid():
		return true
	case a == b:
		return true
	case a.IsUnspecified():
		return a.Is4() == b.Is4()
	case b.IsUnspecified():
		return a.Is4() == b.Is4()
	}
	return false
}
