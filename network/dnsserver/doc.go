// Package dnsserver is berth's embedded DNS server: it answers
// containers' queries on each network's gateway, port 53, UDP and TCP,
// from the records of package network, and forwards the rest.
//
// It is apart from package network only so that programs that attach
// and detach but serve no DNS (berth's CLI) do not link miekg/dns and the
// crypto it brings (3-4 ms of every process's start-up). It may import
// network and nothing else of berth's.
//
// How a caller uses it:
//
//	m, _ := network.Open("/var/lib/berth", "/run/berth")
//	err := dnsserver.Serve(ctx, m, dnsserver.Options{Alive: running, IdleExit: 30 * time.Second})
//
// The rules (server.go):
//   - NAME and NAME.berth.internal answer with the address of every live
//     sandbox holding that name or alias on the network the query arrived
//     on (A records, order rotated per query, TTL 5 s); AAAA and other
//     types of those names are NODATA; PTR for their addresses.
//   - NXDOMAIN for unknown names under berth.internal and for unknown
//     single labels (Docker forwards the latter; that leaks container names
//     to the upstream and only ever fails slower, and the host's search
//     domains still apply, since they make longer names).
//   - Everything else is forwarded to the host's resolv.conf nameservers
//     (or Options.Upstreams) over the query's transport: a truncated UDP
//     answer is fetched again over TCP and cut to the client's size, TC
//     set, so it retries over TCP. Forwarding happens in the host's
//     namespace, so a resolver on 127.0.0.53 works. Internal networks
//     forward nothing: REFUSED.
//   - Listeners are opened in the host namespace with IP_FREEBIND, so
//     they work before a bridge has its address; one process per root
//     serves (network.Manager.LockDNS), a second one waits.
//   - A new network's listeners open as soon as its record is written
//     (network.Manager.NetworkChanges, inotify on the records), not at
//     the next look at the records, every 250 ms: every container of a
//     stack's first up waits for its network's DNS before it starts, and
//     waited half a poll on average, up to a whole one.
//   - UDP is served by ServeUDP, not miekg/dns's server: one loop per
//     network answers berth's own names inline, and only forwarded
//     queries get a goroutine. A goroutine per packet put the p99 at 10k
//     queries/s on two CPUs at 3 ms; inline it is under 1 ms (bench/net.sh).
//     TCP keeps miekg/dns's server through Handler.
package dnsserver
