#!/usr/bin/env bash
# examples/nginx/run.sh: the nginx example end to end, as `make
# example-nginx` runs it, in a temporary berth root removed at the end:
#
#   examples/nginx/base.sh                                   # debian:bookworm
#   berth build --network host -t berth-nginx examples/nginx
#   berth run -d -p 8080:80 --name web berth-nginx
#   curl http://127.0.0.1:8080/
#
# The build runs in the machine's network namespace with --network host:
# its apt-get needs the Debian archive, and host networking makes no
# bridge or rule there. The container runs in a network namespace of the
# script's own (unshare), so its bridge, nftables rules, DNS server and
# published port never touch the machine's; port 8080 is that namespace's.
# Environment: BERTH (default bin/berth of this checkout), and base.sh's
# BERTH_EXAMPLES_CACHE and DEBIAN_MIRROR.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BERTH=$(realpath "${BERTH:-$REPO/bin/berth}")
b() { echo "\$ berth $*"; "$BERTH" "$@"; }

# --- the second half: in the script's own network namespace -------------------
if [[ ${1:-} == __serve ]]; then
	ip link set lo up
	stop() {
		"$BERTH" rm -f web >/dev/null 2>&1 || true
		# berth's DNS helper would stay a while after the last container,
		# and keep this namespace alive: end it, by the pid it noted, once
		# sure it is this root's.
		if pid=$(cat "$BERTH_ROOT/run/dns.pid" 2>/dev/null) && grep -qF "$BERTH_ROOT" "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
		fi
	}
	trap stop EXIT
	b run -d -p 8080:80 --name web berth-nginx >/dev/null
	echo "\$ curl http://127.0.0.1:8080/"
	for ((i = 0; ; i++)); do
		# run -d returns before nginx listens
		if curl -fsS http://127.0.0.1:8080/ 2>/dev/null; then break; fi
		((i < 50)) || { echo "nginx did not answer on 127.0.0.1:8080 within 5 s" >&2; b logs web; exit 1; }
		sleep 0.1
	done
	echo "\$ curl http://127.0.0.1:8080/step.html"
	curl -fsS http://127.0.0.1:8080/step.html
	b ps
	b logs web
	b stop web
	b rm web
	exit 0
fi

[[ $EUID -eq 0 ]] || { echo "the example needs root (berth, debootstrap): sudo make example-nginx" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing: apt-get install curl" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-example-nginx.XXXXXX)
export BERTH_ROOT=$work/root
trap 'rm -rf --one-file-system "$work"' EXIT

echo "\$ examples/nginx/base.sh"
BERTH=$BERTH "$REPO/examples/nginx/base.sh"
b build --network host -t berth-nginx "$REPO/examples/nginx"
b images
unshare --net -- "$0" __serve
b rmi berth-nginx >/dev/null
echo; echo "example done; the Debian tarball stays cached (base.sh), nothing else is left"
