#!/usr/bin/env bash
# bench/net.sh: berth's networks against the host's loopback, and berth's
# DNS server against podman's (aardvark-dns, from Debian).
#
#   1. DNS: queries per second and latency from a container to the
#      network's DNS server, asking for other containers' names: as fast as
#      32 queries in flight allow, then at a fixed 10k/s (open loop) for
#      p50/p99, DNS_ROUNDS runs. First berth's server, then aardvark-dns
#      on the same network and gateway, with the same records.
#      Goal: p99 < 1 ms at 10k queries/s.
#   2. TCP throughput of one stream: container -> container over the bridge,
#      host loopback -> a container through a published port, and host
#      loopback -> host loopback as the baseline. Goal: bridge >= 90% of
#      loopback. ROUNDS runs of each, interleaved; medians.
#   3. What a network costs a run: `berth run --rm /bin/true` with
#      --network none and on the default network (hyperfine).
#
# Both ends of every DNS and TCP measurement are bench/nettool (Go, built
# static here), in containers and on the host alike, so the ratios compare
# paths, not tools (Debian's iperf3 and dnsperf are dynamically linked, and
# the containers are bare busybox).
#
# Everything runs in a network namespace of the bench's own (ip netns):
# berth's bridges, nftables rules and DNS server never touch the host's,
# and "the host's loopback" is that namespace's. The kernel paths are the
# same. Run as root (make bench). Environment:
#   BERTH=path   berth binary (default: bin/berth of this checkout, from make build;
#                berth-registry and berth-init beside it)
#   SECS=5       seconds per TCP run;  ROUNDS=3  TCP runs per path
#   RUNS=30      hyperfine runs for the start-up part
#   DNS_ROUNDS=3 runs at 10k queries/s per DNS server
#
# Everything made here (namespace, containers, network, the DNS helper,
# aardvark-dns, the host-side servers, temp dir) is undone by the EXIT trap; processes are only
# ever signalled by the pid this script started or, for berth's DNS helper,
# by the pid it noted, once its command line shows this bench's root.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-30}
DNS_ROUNDS=${DNS_ROUNDS:-3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BERTH=${BERTH:-$REPO/bin/berth}

need_root "namespaces, bridges and nftables need it"
[[ -x $BERTH ]] || die "berth binary not found at '$BERTH'; run 'make build' first (or set BERTH=/path/to/berth)"
BERTH=$(readlink -f -- "$BERTH")
[[ -x $(dirname "$BERTH")/berth-registry ]] || die "berth-registry (berth's DNS server) is not beside $BERTH; run 'make build'"
command -v go >/dev/null || die "Go is needed to build bench/nettool"

pkgs=()
command -v hyperfine >/dev/null || pkgs+=(hyperfine)
command -v jq >/dev/null || pkgs+=(jq)
command -v ip >/dev/null || pkgs+=(iproute2)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || pkgs+=(busybox-static)
dpkg-query -W -f='${Status}' aardvark-dns 2>/dev/null | grep -q 'ok installed' || pkgs+=(aardvark-dns)
if ((${#pkgs[@]})); then
	say "installing from Debian: ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
BUSYBOX=$(dpkg-query -L busybox-static | grep -m1 -E '/bin/busybox$')
AARDVARK=$(dpkg-query -L aardvark-dns | grep -m1 -E '/aardvark-dns$')

# --- state for the EXIT trap -------------------------------------------------
WORK=
NS=
HOST_SERVER=
AARDVARK_PID=
TCP53=

B() { nsenter --net="/run/netns/$NS" "$BERTH" --root "$BROOT" "$@"; }
IN() { nsenter --net="/run/netns/$NS" "$@"; }

cleanup() {
	local rc=$? ids pid
	set +e
	for pid in $HOST_SERVER $TCP53; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [[ -n $AARDVARK_PID ]] && grep -q aardvark "/proc/$AARDVARK_PID/cmdline" 2>/dev/null; then
		kill "$AARDVARK_PID"
	fi
	if [[ -n $NS ]]; then
		ids=$(B ps -a -q --no-trunc 2>/dev/null)
		[[ -n $ids ]] && B rm -f $ids >/dev/null 2>&1
		B network rm bench >/dev/null 2>&1
		# berth's DNS helper would stay a while after the last container.
		stop_berth_helpers "$BROOT" dns
		ip netns del "$NS" 2>/dev/null
	fi
	if [[ -n $WORK ]]; then
		# Namespace files of containers a crash left bound.
		for f in "$BROOT"/run/netns/*; do [[ -e $f ]] && umount -l "$f" 2>/dev/null; done
		rm -rf --one-file-system -- "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
BROOT=$WORK/berth
ROOTFS=$WORK/rootfs

# --- the load generator, and a busybox rootfs that has it ---------------------
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$WORK/nettool" ./bench/nettool)
busybox_rootfs "$ROOTFS"
cp "$WORK/nettool" "$ROOTFS/nettool"

# --- the bench's network namespace ----------------------------------------------
NS=berth-bench-$$
ip netns add "$NS"
ip -n "$NS" link set lo up

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

say "berth: $BERTH"
say "host: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"

B network create bench >/dev/null

# --- 1. DNS ---------------------------------------------------------------------
for i in 1 2 3; do
	B run -d --name "target$i" --network bench --rootfs "$ROOTFS" -- sleep 100000 >/dev/null
done
GW=$(B network inspect bench | jq -r '.[0].IPAM.Config[0].Gateway')
CLIENT_IP=${GW%.*}.250 # a fixed address, so the peer's records can name it
dns() { B run --rm --network bench --ip "$CLIENT_IP" --rootfs "$ROOTFS" -- /nettool dns -names target1,target2,target3 "$@"; }
# One server's figures: a closed-loop run for the most queries per
# second, then DNS_ROUNDS open-loop runs at 10k/s; the median run by p99.
dns_side() {
	local side=$1 out i
	dns -duration 1s >/dev/null # warm-up: caches, the first container
	out=$(dns -duration "${SECS}s" -outstanding 32)
	printf '%s maxq %s\n' "$side" "$out" >>"$WORK/dns"
	for ((i = 1; i <= DNS_ROUNDS; i++)); do
		out=$(dns -duration 5s -rate 10000)
		printf '%s 10k %s\n' "$side" "$out" >>"$WORK/dns"
	done
}
: >"$WORK/dns"
dns_side berth

# The peer: podman's DNS server, aardvark-dns, on the same network, with
# the same records, asked by the same client in the same container. For
# that berth's server must let go of the gateway's port 53: the bench
# holds berth's DNS lock (so no run starts another server) and stops the
# one running. aardvark-dns 1.4 answers UDP only; a bench listener takes
# the gateway's TCP port 53, where `berth run` checks that DNS is up.
if pid=$(cat "$BROOT/run/dns.pid" 2>/dev/null) && grep -qF "$BROOT" "/proc/$pid/cmdline" 2>/dev/null; then
	kill "$pid"
fi
exec {DNSLOCK}>"$BROOT/networks/dns.lock"
flock -w 10 -x "$DNSLOCK" || die "berth's DNS server did not let go of its lock"
mkdir -p "$WORK/aardvark"
{
	echo "$GW"
	for i in 1 2 3; do
		echo "target$i $(B inspect "target$i" | jq -r '.[0].NetworkSettings.IPAddress')  target$i"
	done
	echo "client $CLIENT_IP  client"
} >"$WORK/aardvark/bench"
# Neither may inherit the lock: berth would not take over until they end.
IN "$AARDVARK" --config "$WORK/aardvark" -p 53 run 2>/dev/null {DNSLOCK}>&- # it goes to the background itself
AARDVARK_PID=$(cat "$WORK/aardvark/aardvark.pid")
# Not through IN: $! must be the server's pid (nsenter execs it).
nsenter --net="/run/netns/$NS" "$WORK/nettool" tcp-server -listen "$GW:53" >/dev/null 2>&1 {DNSLOCK}>&- &
TCP53=$!
dns_side aardvark-dns
kill "$AARDVARK_PID" "$TCP53"
wait "$TCP53" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
	[[ -e /proc/$AARDVARK_PID ]] || break
	sleep 0.05
done
AARDVARK_PID= TCP53=
exec {DNSLOCK}>&-

# pick SIDE KIND KEY: KEY of SIDE's KIND runs; for 10k, of the run with
# the median p99.
pick() {
	grep "^$1 $2 " "$WORK/dns" | while read -r line; do printf '%s %s\n' "$(kv p99_ms "$line")" "$line"; done |
		sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }' | { read -r line; kv "$3" "$line"; }
}
say ""
say "DNS from a container to the network's server (names of 3 other containers, A queries)"
for side in berth aardvark-dns; do
	say "  $side:"
	say "    as fast as 32 in flight allow: $(pick "$side" maxq qps) queries/s   (p50 $(pick "$side" maxq p50_ms) ms, p99 $(pick "$side" maxq p99_ms) ms)"
	say "    at 10000 queries/s, 5 s, median of $DNS_ROUNDS runs by p99: p50 $(pick "$side" 10k p50_ms) ms   p90 $(pick "$side" 10k p90_ms) ms   p99 $(pick "$side" 10k p99_ms) ms   max $(pick "$side" 10k max_ms) ms   (lost $(pick "$side" 10k lost))"
	say "      p99 of each run: $(grep "^$side 10k " "$WORK/dns" | sed 's/.*\bp99_ms=\([^ ]*\).*/\1/' | paste -sd' ')"
done
P99=$(pick berth 10k p99_ms)
say "  berth/aardvark-dns: p99 at 10k/s $(ratio "$P99" "$(pick aardvark-dns 10k p99_ms)"), most queries/s $(ratio "$(pick berth maxq qps)" "$(pick aardvark-dns maxq qps)")"
if awk -v p="$P99" 'BEGIN { exit !(p < 1) }'; then
	say "  goal p99 < 1 ms at 10k/s: met ($P99 ms)"
else
	say "  goal p99 < 1 ms at 10k/s: NOT met ($P99 ms)"
fi

# --- 2. TCP throughput ------------------------------------------------------------
B run -d --name tcpserver --network bench -p 127.0.0.1:15201:5201 --rootfs "$ROOTFS" -- /nettool tcp-server -listen :5201 >/dev/null
# nsenter execs the server (no fork without a PID namespace): $! is its pid.
nsenter --net="/run/netns/$NS" "$WORK/nettool" tcp-server -listen 127.0.0.1:5201 >/dev/null 2>&1 &
HOST_SERVER=$!

: >"$WORK/loopback"
: >"$WORK/bridge"
: >"$WORK/published"
for ((r = 1; r <= ROUNDS; r++)); do
	out=$(IN "$WORK/nettool" tcp-client -connect 127.0.0.1:5201 -duration "${SECS}s")
	kv gbit_s "$out" >>"$WORK/loopback"
	out=$(B run --rm --network bench --rootfs "$ROOTFS" -- /nettool tcp-client -connect tcpserver:5201 -duration "${SECS}s")
	kv gbit_s "$out" >>"$WORK/bridge"
	out=$(IN "$WORK/nettool" tcp-client -connect 127.0.0.1:15201 -duration "${SECS}s")
	kv gbit_s "$out" >>"$WORK/published"
done
LO=$(median <"$WORK/loopback")
BR=$(median <"$WORK/bridge")
PUB=$(median <"$WORK/published")

say ""
say "TCP throughput, one stream, ${SECS}s (median of $ROUNDS)"
printf '  %-44s %7.2f Gbit/s   (runs: %s)\n' "host loopback -> host loopback (baseline)" "$LO" "$(paste -sd' ' "$WORK/loopback")"
printf '  %-44s %7.2f Gbit/s   bridge/loopback = %s   (runs: %s)\n' "container -> container over the bridge" "$BR" "$(ratio "$BR" "$LO")" "$(paste -sd' ' "$WORK/bridge")"
printf '  %-44s %7.2f Gbit/s   published/loopback = %s   (runs: %s)\n' "host loopback -> container, published port" "$PUB" "$(ratio "$PUB" "$LO")" "$(paste -sd' ' "$WORK/published")"
if awk -v b="$BR" -v l="$LO" 'BEGIN { exit !(b >= 0.9 * l) }'; then
	say "  goal bridge >= 90% of loopback: met"
else
	say "  goal bridge >= 90% of loopback: NOT met"
fi

# --- 3. what a network costs a run ---------------------------------------------------
B rm -f target1 target2 target3 tcpserver >/dev/null
q() { printf '%q' "$1"; }
run_cmd() { printf 'nsenter --net=/run/netns/%s %s --root %s run --rm %s--rootfs %s -- /bin/true' "$NS" "$(q "$BERTH")" "$(q "$BROOT")" "$1" "$(q "$ROOTFS")"; }
say ""
say "berth run --rm /bin/true, hyperfine: 5 warm-up + $RUNS runs each, back to back and 0.3 s apart"
# Back to back, a run's network is still being taken down (in a helper:
# deleting a veth waits for an RCU grace period) while the next one runs;
# 0.3 s apart, as a person types, it is not.
hyperfine -N --style=basic --warmup 5 --runs "$RUNS" --export-json "$WORK/hyperfine.json" \
	-n "network none" "$(run_cmd '--network none ')" \
	-n "default network" "$(run_cmd '')" >/dev/null
hyperfine -N --style=basic --warmup 5 --runs "$RUNS" --export-json "$WORK/hyperfine-apart.json" --prepare "sleep 0.3" \
	-n "network none" "$(run_cmd '--network none ')" \
	-n "default network" "$(run_cmd '')" >/dev/null
median_ms() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$2"; }
for mode in back-to-back apart; do
	f=$WORK/hyperfine.json
	[[ $mode == apart ]] && f=$WORK/hyperfine-apart.json
	NONE=$(median_ms "network none" "$f")
	DEF=$(median_ms "default network" "$f")
	say "  $mode:"
	printf '    %-16s %7.1f ms (median)\n' "--network none" "$NONE"
	printf '    %-16s %7.1f ms (median)   %+.1f ms for the bridge network\n' "default network" "$DEF" "$(awk -v a="$DEF" -v b="$NONE" 'BEGIN { print a - b }')"
done
