// Package network gives containers their networks: Linux bridges with
// subnets from a pool, a network namespace per container with veth pairs
// into those bridges, addresses from a crash-safe IPAM, an embedded DNS
// server on each bridge's gateway, published ports, masquerading and
// isolation, all in nftables.
//
// network is a leaf: it must not import any other package of berth. It
// knows nothing of containers but an id (a "sandbox", in Docker's word)
// and plain values: names, addresses, port mappings. It never learns a
// container's state but through the Alive function a DNS caller gives.
//
// How a caller uses it:
//
//	m, _ := network.Open("/var/lib/berth", "/run/berth")
//	m.EnsureDefault()                                  // "bridge"
//	sb, _ := m.Attach(ctx, id, []network.AttachRequest{{Network: "bridge", Names: []string{"web"}}})
//	// runtime.Config{NetNS: sb.NetNS, DNS: sb.Nameservers, ...}; start the container
//	m.Publish(id, []network.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}})
//	...
//	m.Detach(id)                                       // after the container is gone
//
// Decisions written down here:
//   - State: <root>/networks/<name>.json per network and
//     <root>/networks/sandboxes/<id>.json per sandbox, each written
//     atomically, every change under one flock (<root>/networks/lock), so
//     CLIs, the engine and the DNS helper can share a root. Network
//     records are synced; sandbox records are not, as they describe this
//     boot only (what they name is gone after a crash of the machine, and
//     a record of an earlier boot, even one left cut short, is taken down
//     or dropped): under the lock, the fsyncs made a stack's attaches
//     queue for journal commits. The sandbox
//     records are the IPAM: an address is allocated exactly while a record
//     names it, so allocations survive restarts, are released with the
//     record, and cannot be handed out twice, across processes too.
//   - Crash safety: a record is written ("attaching", with its owner's pid
//     and start time) before anything is made, and marked "detaching"
//     before anything is taken down. Links are made and deleted outside
//     the lock, which guards only the records: deleting a veth pair waits
//     for an RCU grace period, and the detaches of a stack's containers
//     overlap instead of queueing for it. The next Attach, Detach or
//     Cleanup tears down records whose owner died half-way, and records
//     from an earlier boot; a detach in flight is left to its owner.
//     DetachStart splits a detach at that point: the mark and the ports
//     now, the links, namespace and addresses when its caller likes (the
//     engine, in the background: a replica's replacement need not wait
//     for the kernel); an Attach that asks for a static address a detach
//     in flight holds waits for it.
//     Records are written through temporary files named after their
//     writer (pid and start time); the same reaping removes those of a
//     writer that is gone, killed or a zombie.
//     Links berth makes carry the alias "berth", so Cleanup can delete
//     strays no record names without touching others'.
//   - Names: bridges are br-<12 hex of the network id> (as Docker's user
//     networks), host veth ends bth<11 hex of a hash of sandbox and
//     network>, container ends eth0, eth1, ... in request order, with MAC
//     02:42:<IPv4 address> as Docker's. The default route goes through
//     the first network. Bridges and host ends have IPv6 disabled, so
//     containers have no link-local way to the host.
//   - The default network is "bridge" (Docker's name, so scripts passing
//     --network bridge work), created on first use from the pool like any
//     other (10.89.0.0/24 on a quiet host). Unlike Docker's, its
//     containers resolve each other by name. Remove does not refuse it;
//     the CLI does, as Docker does.
//   - Subnets come from a pool (default 10.89.0.0/16 in /24s; Options),
//     skipping other networks' subnets and anything the host routes
//     elsewhere. A subnet the user names must not overlap another
//     network's; the gateway defaults to the first host address.
//   - nftables: one table, ip berth, owned whole and rewritten from the
//     records in one transaction on every change (layout in nft.go). DNAT
//     in prerouting and output for addresses of the host (fib daddr type
//     local), so published ports work from other hosts, from containers
//     and from the host's loopback (route_localnet on the bridge and
//     masquerade of 127.0.0.0/8 sources), with no process of berth's in
//     the path: they outlive an engine restart. Other tables' rules still
//     apply: a host firewall whose forward policy drops will drop
//     containers' traffic too.
//   - Isolation: nothing new enters a bridge from anywhere but itself,
//     except through a published port; internal networks send nothing
//     out; from a bridge the host accepts only DNS to the gateway, ICMP and
//     replies. ip_forward is turned on (and left on) when a bridge is made.
//   - Published ports are checked by binding them on the host for a
//     moment: a holder is named from /proc/net and /proc/*/fd. A port
//     published by another sandbox conflicts too. Nothing holds the port
//     afterwards (no docker-proxy), so a process that binds it later is
//     shadowed by the DNAT rule.
//   - DNS (package dnsserver, beside this one): NAME and NAME.berth.internal
//     answer with the address of every live sandbox holding that name or
//     alias on the network the query arrived on; everything else is
//     forwarded to the host's resolvers (dnsserver/doc.go has the rules).
//     This package keeps what the server needs of the state (Records,
//     the DNS lock, the host namespace) but not the DNS protocol, so a
//     program that only attaches and detaches, berth's CLI, links no DNS
//     library: miekg/dns and the crypto it brings cost every berth process
//     3-4 ms of start-up (measured on `berth ps`).
//   - Who serves DNS: dnsserver.Serve, in one process per root (dns.lock,
//     LockDNS). Until the engine exists, berth run starts a detached
//     helper (berth __dns) when DNSRunning is false after Attach; it exits
//     once no sandbox has been left for a while. The lock hand-over is
//     race-free (see DNSLock.ReleaseIfIdle). The engine will serve it
//     itself, waiting for the helper to go.
//   - IPv4 only: no IPv6 subnets or published ports yet.
package network
