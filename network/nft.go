package network

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is berth's nftables table (family ip). berth owns it whole:
// every change rewrites it from the records in one netlink transaction,
// so the rules are always exactly what the records say, whatever crashed
// before. Its layout, for N a network on bridge B with subnet S and
// gateway G:
//
//	chain prerouting  nat hook prerouting -100:  fib daddr type local jump ports
//	chain output      nat hook output -100:      fib daddr type local jump ports
//	chain ports       per binding:  [ip daddr HOST_IP] l4proto P th dport HP dnat to CIP:CP
//	chain postrouting nat hook postrouting 100, per N:
//	                  ip saddr 127.0.0.0/8 oifname B masquerade   (published ports from the host's loopback)
//	                  ct status dnat ip saddr S oifname B masquerade  (hairpin: a container to its own network via a published port)
//	                  ip saddr S oifname != B masquerade          (outbound; not for internal N)
//	chain forward     filter hook forward 0, policy accept:
//	                  ct state established,related accept; ct status dnat accept
//	                  per N: iifname B oifname B accept; oifname B drop  (isolation: nothing new gets in but published ports)
//	                  per internal N: iifname B drop                    (nothing gets out)
//	chain input       filter hook input 0, policy accept, per N:
//	                  iifname B ct state established,related accept
//	                  iifname B ip daddr G udp/tcp dport 53 accept; iifname B icmp accept; iifname B drop
//	                  ip daddr G udp/tcp dport 53 iifname != B iifname != lo drop  (DNS only for the bridge)
//
// The loopback case also needs route_localnet on the bridge (bridge.go).
const TableName = "berth"

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// syncRules rewrites berth's table from the records; with no network
// left it removes the table.
//
// Preconditions: state lock held.
func (m *Manager) syncRules() error {
	nets, err := m.readNetworks()
	if err != nil {
		return err
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return err
	}
	var ports []PortBinding
	for _, s := range sbs {
		if s.State == stateAttached {
			ports = append(ports, s.Ports...)
		}
	}
	c, closeConn, err := m.nftConn()
	if err != nil {
		return err
	}
	defer closeConn()
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	// add + delete + add in one batch: atomic, and no error whether or
	// not the table was there.
	c.AddTable(t)
	c.DelTable(t)
	if len(nets) > 0 {
		buildTable(c, t, nets, ports)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("writing nftables table %s: %w", TableName, err)
	}
	return nil
}

func (m *Manager) nftConn() (*nftables.Conn, func(), error) {
	if m.host.path == "" {
		c, err := nftables.New()
		return c, func() {}, err
	}
	f, err := os.Open(m.host.path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening host network namespace: %w", err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return c, func() { f.Close() }, nil
}

func buildTable(c *nftables.Conn, t *nftables.Table, nets []networkRecord, ports []PortBinding) {
	t = c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept})
	}
	portsChain := c.AddChain(&nftables.Chain{Name: "ports", Table: t})
	pre := base("prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	out := base("output", nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	post := base("postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	fwd := base("forward", nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	in := base("input", nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter)
	rule := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		var all []expr.Any
		for _, e := range exprs {
			all = append(all, e...)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: all})
	}

	for _, ch := range []*nftables.Chain{pre, out} {
		rule(ch, fibDaddrLocal(), verdict(expr.VerdictJump, "ports"))
	}
	for _, b := range ports {
		var match []expr.Any
		if !b.HostIP.IsUnspecified() {
			match = daddr(b.HostIP)
		}
		rule(portsChain, match, l4proto(b.Protocol), dport(b.HostPort), dnat(b.ContainerIP, b.ContainerPort))
	}

	rule(fwd, ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept, ""))
	rule(fwd, ctStatusDNAT(), verdict(expr.VerdictAccept, ""))
	for _, n := range nets {
		rule(post, saddr(loopback), ifname(unix.NFT_META_OIFNAME, n.Bridge, true), masq())
		rule(post, ctStatusDNAT(), saddr(n.Subnet), ifname(unix.NFT_META_OIFNAME, n.Bridge, true), masq())
		if !n.Internal {
			rule(post, saddr(n.Subnet), ifname(unix.NFT_META_OIFNAME, n.Bridge, false), masq())
		}
		rule(fwd, ifname(unix.NFT_META_IIFNAME, n.Bridge, true), ifname(unix.NFT_META_OIFNAME, n.Bridge, true), verdict(expr.VerdictAccept, ""))
	}
	for _, n := range nets {
		rule(fwd, ifname(unix.NFT_META_OIFNAME, n.Bridge, true), verdict(expr.VerdictDrop, ""))
		if n.Internal {
			rule(fwd, ifname(unix.NFT_META_IIFNAME, n.Bridge, true), verdict(expr.VerdictDrop, ""))
		}
	}
	for _, n := range nets {
		iif := ifname(unix.NFT_META_IIFNAME, n.Bridge, true)
		rule(in, iif, ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept, ""))
		for _, p := range []string{"udp", "tcp"} {
			rule(in, iif, daddr(n.Gateway), l4proto(p), dport(53), verdict(expr.VerdictAccept, ""))
		}
		rule(in, iif, l4proto("icmp"), verdict(expr.VerdictAccept, ""))
		rule(in, iif, verdict(expr.VerdictDrop, ""))
		for _, p := range []string{"udp", "tcp"} {
			rule(in, daddr(n.Gateway), l4proto(p), dport(53), ifname(unix.NFT_META_IIFNAME, n.Bridge, false),
				ifname(unix.NFT_META_IIFNAME, "lo", false), verdict(expr.VerdictDrop, ""))
		}
	}
}

// The expressions below are what nft(8) compiles its rules to (see
// nft --debug=netlink); registers 1 and 2 are scratch.

func ifnameData(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func ifname(key uint32, name string, eq bool) []expr.Any {
	op := expr.CmpOpEq
	if !eq {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKey(key), Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifnameData(name)},
	}
}

func saddr(p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	a := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

func daddr(ip netip.Addr) []expr.Any {
	a := ip.Unmap().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

func l4proto(proto string) []expr.Any {
	p := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmp": unix.IPPROTO_ICMP}[proto]
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func dport(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

func fibDaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, ResultADDRTYPE: true, FlagDADDR: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// ctStatusDstNAT is IPS_DST_NAT of the kernel's ip_conntrack_status.
const ctStatusDstNAT = 1 << 5

// ctStatusDNAT matches connections whose destination was rewritten.
func ctStatusDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ctStatusDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func dnat(ip netip.Addr, port uint16) []expr.Any {
	a := ip.As4()
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func masq() []expr.Any { return []expr.Any{&expr.Masq{}} }

func verdict(kind expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}
}
