package network

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// PortMapping is a published port as the user wrote it (docker run -p).
// A range maps one to one (8000-8001:80-81), or a host range offers its
// first free port to one container port (8000-8010:80).
type PortMapping struct {
	HostIP        netip.Addr // zero: every address of the host
	HostPort      uint16     // zero: a free port the kernel picks
	HostPortEnd   uint16     // last port of a host range; zero when single
	ContainerPort uint16
	// ContainerPortEnd is the last port of a container range; zero when single.
	ContainerPortEnd uint16
	Protocol         string // "tcp" (the default) or "udp"
}

// PortBinding is one host port forwarded to one container port.
type PortBinding struct {
	HostIP        netip.Addr `json:"hostIp"` // 0.0.0.0 for every address
	HostPort      uint16     `json:"hostPort"`
	ContainerIP   netip.Addr `json:"containerIp"`
	ContainerPort uint16     `json:"containerPort"`
	Protocol      string     `json:"protocol"`
}

// String reads as docker port prints it: 80/tcp -> 0.0.0.0:8080.
func (b PortBinding) String() string {
	return fmt.Sprintf("%d/%s -> %s", b.ContainerPort, b.Protocol, netip.AddrPortFrom(b.HostIP, b.HostPort))
}

// ParsePortMapping reads docker run -p syntax:
// [HOST_IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/PROTOCOL], with an
// IPv6 host address in brackets.
func ParsePortMapping(spec string) (PortMapping, error) {
	var pm PortMapping
	rest, proto, hasProto := strings.Cut(spec, "/")
	pm.Protocol = "tcp"
	if hasProto {
		pm.Protocol = strings.ToLower(proto)
	}
	if pm.Protocol != "tcp" && pm.Protocol != "udp" {
		return pm, invalid("port %q: protocol %q is not tcp or udp", spec, proto)
	}
	var host, hostPorts, ctrPorts string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return pm, invalid("port %q: unclosed [", spec)
		}
		host, rest = rest[1:end], rest[end+2:]
		var ok bool
		if hostPorts, ctrPorts, ok = strings.Cut(rest, ":"); !ok {
			return pm, invalid("port %q is not [HOST_IP:][HOST_PORT:]CONTAINER_PORT", spec)
		}
	} else {
		parts := strings.Split(rest, ":")
		switch len(parts) {
		case 1:
			ctrPorts = parts[0]
		case 2:
			hostPorts, ctrPorts = parts[0], parts[1]
		case 3:
			host, hostPorts, ctrPorts = parts[0], parts[1], parts[2]
		default:
			return pm, invalid("port %q is not [HOST_IP:][HOST_PORT:]CONTAINER_PORT", spec)
		}
	}
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return pm, invalid("port %q: %q is not an IP address", spec, host)
		}
		pm.HostIP = ip
	}
	var err error
	if pm.ContainerPort, pm.ContainerPortEnd, err = parsePortRange(ctrPorts, false); err != nil {
		return pm, invalid("port %q: %v", spec, err)
	}
	if hostPorts != "" {
		if pm.HostPort, pm.HostPortEnd, err = parsePortRange(hostPorts, true); err != nil {
			return pm, invalid("port %q: %v", spec, err)
		}
	}
	return pm, pm.check()
}

func parsePortRange(s string, zeroOK bool) (first, last uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	p, err := strconv.ParseUint(a, 10, 16)
	if err != nil || (p == 0 && !zeroOK) {
		return 0, 0, fmt.Errorf("%q is not a port", a)
	}
	if !isRange {
		return uint16(p), 0, nil
	}
	q, err := strconv.ParseUint(b, 10, 16)
	if err != nil || q < p || p == 0 {
		return 0, 0, fmt.Errorf("%q is not a port range", s)
	}
	return uint16(p), uint16(q), nil
}

func (pm PortMapping) check() error {
	cn, hn := span(pm.ContainerPort, pm.ContainerPortEnd), span(pm.HostPort, pm.HostPortEnd)
	switch {
	case pm.ContainerPort == 0:
		return invalid("no container port")
	case pm.Protocol != "tcp" && pm.Protocol != "udp":
		return invalid("protocol %q is not tcp or udp", pm.Protocol)
	case pm.HostIP.IsValid() && !pm.HostIP.Unmap().Is4() && !pm.HostIP.IsUnspecified():
		return invalid("host address %s: only IPv4 addresses can be published", pm.HostIP)
	case pm.HostPort == 0 && cn > 1:
		return invalid("a container port range needs a host port range of the same size")
	case pm.HostPort != 0 && cn > 1 && hn != cn:
		return invalid("host ports %d-%d and container ports %d-%d differ in number", pm.HostPort, pm.HostPortEnd, pm.ContainerPort, pm.ContainerPortEnd)
	}
	return nil
}

func span(first, last uint16) int {
	if last == 0 {
		return 1
	}
	return int(last-first) + 1
}

// Publish forwards host ports to sandbox id: to its address on the first
// network that is not internal. It replaces what the sandbox published
// before, so calling it again with the same mappings changes nothing. A
// host port held by another sandbox or by a process on the host is a
// PortConflictError. The forwarding is nftables DNAT (see nft.go), so it
// needs no berth process to keep working.
func (m *Manager) Publish(id string, mappings []PortMapping) ([]PortBinding, error) {
	for _, pm := range mappings {
		if err := pm.check(); err != nil {
			return nil, err
		}
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec, ok, err := m.readSandbox(id)
	if err != nil {
		return nil, err
	}
	if !ok || rec.State != stateAttached {
		return nil, fmt.Errorf("publishing ports of %s: %w", shortID(id), ErrNotAttached)
	}
	target, err := m.publishTarget(rec)
	if err != nil {
		return nil, err
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return nil, err
	}
	var others []held
	for _, s := range sbs {
		if s.ID != id {
			for _, b := range s.Ports {
				others = append(others, held{b, s.ID})
			}
		}
	}
	var out []PortBinding
	for _, pm := range mappings {
		bs, err := m.bind(pm, target, others, out)
		if err != nil {
			return nil, err
		}
		out = append(out, bs...)
	}
	rec.Ports = out
	if err := m.writeSandbox(&rec); err != nil {
		return nil, err
	}
	if err := m.syncRules(); err != nil {
		return nil, err
	}
	if h, err := m.host.handle(); err == nil {
		forgetUDP(h, out)
		h.Close()
	}
	m.log.Debug("published", "container", id, "ports", len(out))
	return out, nil
}

// publishTarget is the address published ports lead to.
func (m *Manager) publishTarget(rec sandboxRecord) (netip.Addr, error) {
	for _, e := range rec.Endpoints {
		n, err := m.readNetwork(e.Network)
		if err == nil && !n.Internal {
			return e.IP, nil
		}
	}
	return netip.Addr{}, invalid("sandbox %s is on internal networks only, whose ports cannot be published", shortID(rec.ID))
}

type held struct {
	b       PortBinding
	sandbox string
}

// bind turns one mapping into bindings, checking every host port.
func (m *Manager) bind(pm PortMapping, target netip.Addr, others []held, mine []PortBinding) ([]PortBinding, error) {
	hostIP := netip.IPv4Unspecified()
	if pm.HostIP.IsValid() && !pm.HostIP.IsUnspecified() {
		hostIP = pm.HostIP.Unmap()
	}
	mk := func(hp, cp uint16) PortBinding {
		return PortBinding{HostIP: hostIP, HostPort: hp, ContainerIP: target, ContainerPort: cp, Protocol: pm.Protocol}
	}
	for _, b := range mine {
		others = append(others, held{b, "this container"})
	}
	cn, hn := span(pm.ContainerPort, pm.ContainerPortEnd), span(pm.HostPort, pm.HostPortEnd)
	switch {
	case pm.HostPort == 0:
		for range 50 {
			p, err := m.freePort(hostIP, pm.Protocol)
			if err != nil {
				return nil, err
			}
			if b := mk(p, pm.ContainerPort); conflictWith(b, others) == "" {
				return []PortBinding{b}, nil
			}
		}
		return nil, fmt.Errorf("publishing %d/%s: no free host port found", pm.ContainerPort, pm.Protocol)
	case cn == 1 && hn > 1:
		var first error
		for hp := int(pm.HostPort); hp <= int(pm.HostPortEnd); hp++ {
			b := mk(uint16(hp), pm.ContainerPort)
			err := m.checkPort(b, others)
			if err == nil {
				return []PortBinding{b}, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, fmt.Errorf("host ports %d-%d: none is free: %w", pm.HostPort, pm.HostPortEnd, first)
	}
	var out []PortBinding
	for i := range cn {
		b := mk(pm.HostPort+uint16(i), pm.ContainerPort+uint16(i))
		if err := m.checkPort(b, append(others, heldList(out)...)); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func heldList(bs []PortBinding) []held {
	out := make([]held, len(bs))
	for i, b := range bs {
		out[i] = held{b, "this container"}
	}
	return out
}

// conflictWith names the sandbox already publishing b's port, or "".
func conflictWith(b PortBinding, others []held) string {
	for _, o := range others {
		if o.b.Protocol == b.Protocol && o.b.HostPort == b.HostPort &&
			(o.b.HostIP == b.HostIP || o.b.HostIP.IsUnspecified() || b.HostIP.IsUnspecified()) {
			if o.sandbox == "this container" {
				return o.sandbox
			}
			return "container " + shortID(o.sandbox)
		}
	}
	return ""
}

// checkPort fails when another sandbox publishes b's host port or a
// process on the host holds it (we try to bind it, and let go at once).
func (m *Manager) checkPort(b PortBinding, others []held) error {
	addr := netip.AddrPortFrom(b.HostIP, b.HostPort)
	if who := conflictWith(b, others); who != "" {
		return &PortConflictError{Addr: addr, Protocol: b.Protocol, Holder: who}
	}
	err := m.host.do(func() error {
		if b.Protocol == "udp" {
			c, err := net.ListenPacket("udp4", addr.String())
			if err == nil {
				c.Close()
			}
			return err
		}
		l, err := net.Listen("tcp4", addr.String())
		if err == nil {
			l.Close()
		}
		return err
	})
	if errors.Is(err, unix.EADDRINUSE) {
		return &PortConflictError{Addr: addr, Protocol: b.Protocol, Holder: m.portHolder(b.Protocol, b.HostPort)}
	}
	if err != nil {
		return fmt.Errorf("checking host port %s/%s: %w", addr, b.Protocol, err)
	}
	return nil
}

// freePort asks the kernel for a port nobody holds.
func (m *Manager) freePort(ip netip.Addr, proto string) (uint16, error) {
	var port int
	err := m.host.do(func() error {
		addr := netip.AddrPortFrom(ip, 0).String()
		if proto == "udp" {
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			port = c.LocalAddr().(*net.UDPAddr).Port
			return c.Close()
		}
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		port = l.Addr().(*net.TCPAddr).Port
		return l.Close()
	})
	return uint16(port), err
}

// portHolder finds the process holding a port: the socket's inode from
// /proc/net/{tcp,udp}, then the process with a descriptor on it. "" when
// not found (another namespace's socket, or no permission).
func (m *Manager) portHolder(proto string, port uint16) string {
	var inodes map[string]bool
	_ = m.host.do(func() error {
		inodes = socketInodes(proto, port)
		return nil
	})
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			pid := strings.Split(fd, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
		}
	}
	return ""
}

// socketInodes lists inodes of sockets bound to port, listening ones for
// TCP, from the calling thread's namespace.
func socketInodes(proto string, port uint16) map[string]bool {
	out := map[string]bool{}
	for _, file := range []string{proto, proto + "6"} {
		f, err := os.Open("/proc/thread-self/net/" + file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st ... inode
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if !ok || err != nil || uint16(p) != port || (proto == "tcp" && fs[3] != "0A") {
				continue
			}
			out[fs[9]] = true
		}
		f.Close()
	}
	return out
}

// forgetUDP drops conntrack entries of UDP "connections" to newly
// published ports: made before the rule existed, they would keep
// bypassing it for as long as packets keep coming.
func forgetUDP(h *netlink.Handle, bs []PortBinding) {
	for _, b := range bs {
		if b.Protocol != "udp" {
			continue
		}
		f := &netlink.ConntrackFilter{}
		if f.AddProtocol(unix.IPPROTO_UDP) != nil || f.AddPort(netlink.ConntrackOrigDstPort, b.HostPort) != nil {
			continue
		}
		_, _ = h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f)
	}
}

// Ports lists what sandbox id publishes (berth port).
func (m *Manager) Ports(id string) ([]PortBinding, error) {
	rec, ok, err := m.readSandbox(id)
	if err != nil || !ok {
		return nil, err
	}
	return rec.Ports, nil
}
