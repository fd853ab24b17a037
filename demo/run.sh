#!/usr/bin/env bash
# The demo: a busybox root filesystem run as berth containers, showing what
# the runtime isolates and limits; then a stack, examples/hello, brought up
# by berth's engine, which replaces a replica killed with -9. Everything
# lives under a temporary --root and is removed at the end.
set -euo pipefail
BERTH=${1:-bin/berth}
BERTH=$(realpath "$BERTH")
[ "$(id -u)" = 0 ] || { echo "the demo needs root (namespaces and cgroups): sudo make demo"; exit 1; }
# The demo runs in a network namespace of its own: the bridges, nftables
# rules and DNS server berth makes for its containers never touch the
# host's, and go with it. Its loopback is "the host" for berth.
if [ -z "${BERTH_DEMO_NETNS:-}" ]; then
	exec env BERTH_DEMO_NETNS=1 unshare --net -- "$0" "$@"
fi
ip link set lo up

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
root=$work/root
rootfs=$work/rootfs
cleanup() {
	if [ -f "$work/hello/compose.yaml" ]; then
		"$BERTH" --root "$root" down -t 1 -f "$work/hello/compose.yaml" >/dev/null 2>&1 || true
	fi
	"$BERTH" --root "$root" rm -f web >/dev/null 2>&1 || true
	"$BERTH" --root "$root" network rm demo >/dev/null 2>&1 || true
	"$BERTH" --root "$root" rmi demo/busybox:1 >/dev/null 2>&1 || true
	# berth's DNS helper would stay a while after the last container: end
	# it, by the pid it noted, once sure it is this root's.
	if pid=$(cat "$root/run/dns.pid" 2>/dev/null) && grep -qF "$root" "/proc/$pid/cmdline" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
	fi
	# The engine leaves by itself once it has no stack (BERTH_ENGINE_IDLE
	# below); should a failed down leave it a stack, end it the same way.
	if pid=$(cat "$root/run/engine.pid" 2>/dev/null) && grep -qF "$root" "/proc/$pid/cmdline" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/www"
cp /bin/busybox "$rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nwww:x:33:\n' >"$rootfs/etc/group"
echo '<h1>hello from a berth container</h1>' >"$rootfs/www/index.html"

# b ARGS: berth ARGS, shown first as a shell would take them (quoted where
# they must be)
b() {
	local a out='$ berth'
	for a in "$@"; do
		case $a in
		'' | *[!A-Za-z0-9_./:=@%+,-]*) out+=" '${a//\'/\'\\\'\'}'" ;;
		*) out+=" $a" ;;
		esac
	done
	echo "$out"
	"$BERTH" --root "$root" "$@"
}

echo "== its own hostname, PID 1, capabilities"
b run --rm --hostname demo --rootfs "$rootfs" -- sh -c 'hostname; ps; grep -E "CapEff|NoNewPrivs" /proc/self/status'

echo; echo "== the same root filesystem as an image: layers below, the container's own changes on top"
tar -C "$rootfs" -czf "$work/rootfs.tar.gz" .
b image import "$work/rootfs.tar.gz" demo/busybox:1 >/dev/null
b images
b run --rm demo/busybox:1 sh -c 'echo written > /etc/motd; cat /etc/motd; grep " / / " /proc/self/mountinfo | cut -d" " -f9'
b run --rm demo/busybox:1 sh -c 'cat /etc/motd 2>/dev/null || echo "a new container starts clean: no /etc/motd"'

echo; echo "== a user from the rootfs's /etc/passwd"
b run --rm -u www --rootfs "$rootfs" -- id

echo; echo "== a memory limit: going past it is an OOM kill (exit 137)"
set +e
b run --name hog --memory 16m --memory-swap 16m --rootfs "$rootfs" -- sh -c 'x=a; while true; do x=$x$x; done'
echo "exit code $?"
set -e
b inspect -f 'OOMKilled={{.State.OOMKilled}} ExitCode={{.State.ExitCode}}' hog
b rm hog

echo; echo "== a network: a detached web server, found by name, its port published on the host"
b network create demo >/dev/null
b run -d --name web --network demo --network-alias www -p 127.0.0.1:8080:80 --rootfs "$rootfs" -- httpd -f -v -p 80 -h /www >/dev/null
b ps
b run --rm --network demo --rootfs "$rootfs" -- sh -c 'timeout 5 wget -q -O- http://www/; nslookup web | grep -A1 "^Name"'
echo "\$ wget -q -O- http://127.0.0.1:8080/      # on the host"
/bin/busybox wget -q -O- http://127.0.0.1:8080/
b port web
b logs web
echo "== a second container has a loopback of its own: the server is not there"
b run --rm --network demo --rootfs "$rootfs" -- sh -c 'timeout 2 wget -q -O- http://127.0.0.1/ 2>/dev/null || echo "127.0.0.1:80: nothing listens here"'
b stop -t 2 web
b ps -a
b rm web
b network rm demo

. "$(dirname "$0")/hello.sh"
echo; echo "demo done; nothing is left behind"
