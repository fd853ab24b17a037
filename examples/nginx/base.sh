#!/usr/bin/env bash
# examples/nginx/base.sh: makes the base image examples/nginx builds FROM,
# debian:bookworm, from Debian's own packages. No container registry is
# reachable here; on a normal host `FROM debian:bookworm` would pull it.
#
#   debootstrap --variant=minbase bookworm DIR MIRROR
#   tar (numeric owners, xattrs) of DIR  ->  berth image import TAR debian:bookworm
#
# It does nothing when berth already has debian:bookworm. The tarball is
# kept under $BERTH_EXAMPLES_CACHE, so a second machine state (a new berth
# root, a CI rerun) imports it in seconds instead of bootstrapping again.
# Run as root (debootstrap and berth need it). Environment:
#   BERTH=path              berth binary (default: bin/berth of this checkout,
#                           else berth on PATH); BERTH_ROOT picks its root
#   BERTH_EXAMPLES_CACHE=d  where the tarball is kept (default
#                           /var/cache/berth-examples; empty: not kept)
#   DEBIAN_MIRROR=url       the archive (default: the one this machine's apt
#                           sources name, else http://deb.debian.org/debian)
# Temporary directories are removed on exit, whatever happens.
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export LC_ALL=C

IMAGE=debian:bookworm
SUITE=bookworm
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${BERTH_EXAMPLES_CACHE-/var/cache/berth-examples}

say() { printf 'base.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap and berth need it): sudo $0"

if [[ -n ${BERTH:-} ]]; then
	:
elif [[ -x $REPO/bin/berth ]]; then
	BERTH=$REPO/bin/berth
else
	BERTH=$(command -v berth) || die "berth not found: run 'make build' in $REPO, or set BERTH=/path/to/berth"
fi

if [[ -n $("$BERTH" images -q "$IMAGE") ]]; then
	say "$IMAGE is already there; nothing to do ('berth rmi $IMAGE' to make it again)"
	exit 0
fi

# mirror prints the first Debian archive this machine's apt sources name
# (one-line or deb822 format; not the security archive), or nothing.
mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		sed -nE -e 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+:[^[:space:]]+)[[:space:]].*/\2/p' \
			-e 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n'
	done | grep -E '^https?://' | grep -E '/debian/?$' | head -n1
}
MIRROR=${DEBIAN_MIRROR:-$(mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)

WORK=
cleanup() {
	local rc=$? m
	set +e
	if [[ -n $WORK ]]; then
		# debootstrap mounts proc and sys in the target; a failed run can
		# leave them there. Deepest first, then remove what is left.
		for m in $(findmnt -rn -o TARGET | grep -F -- "$WORK/" | sort -r); do
			umount "$m" 2>/dev/null || umount -l "$m"
		done
		rm -rf --one-file-system -- "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n $CACHE ]]; then
	mkdir -p "$CACHE"
	WORK=$(mktemp -d "$CACHE/.base.XXXXXX")
	TARBALL=$CACHE/debian-$SUITE-minbase-$ARCH.tar
else
	WORK=$(mktemp -d /tmp/berth-examples-base.XXXXXX)
	TARBALL=$WORK/debian-$SUITE-minbase-$ARCH.tar
fi

if [[ -s $TARBALL ]]; then
	say "using the cached $TARBALL"
else
	if ! command -v debootstrap >/dev/null; then
		say "installing debootstrap from Debian"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
	fi
	ROOTFS=$WORK/rootfs
	say "debootstrap --variant=minbase $SUITE from $MIRROR (a minute or two)"
	debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap of $SUITE from $MIRROR failed (log above); is the archive reachable? set DEBIAN_MIRROR to another mirror"; }

	# What Docker's debian image leaves out: package lists and caches (a
	# Dockerfile runs apt-get update first anyway), logs, device nodes (the
	# runtime gives a container its /dev), the host's hostname and
	# resolver (berth mounts the container's own over them).
	rm -rf "${ROOTFS:?}"/var/lib/apt/lists/* "${ROOTFS:?}"/var/cache/apt/*.bin "${ROOTFS:?}"/var/cache/apt/archives/*.deb \
		"${ROOTFS:?}"/var/cache/ldconfig/aux-cache "${ROOTFS:?}"/var/log/* "${ROOTFS:?}"/tmp/* "${ROOTFS:?}"/dev/*
	mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
	: >"$ROOTFS/etc/hostname"
	: >"$ROOTFS/etc/resolv.conf"
	# As Docker's image does: no .deb files kept after an install, no
	# translations fetched; so an image built on it stays small.
	cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
	printf 'Acquire::Languages "none";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"

	# Written beside the cache and renamed: a killed run leaves no half
	# tarball that the next run would take for a good one.
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$ROOTFS" -cf "$WORK/rootfs.tar" .
	mv -f "$WORK/rootfs.tar" "$TARBALL"
fi

say "berth image import $TARBALL $IMAGE"
"$BERTH" image import "$TARBALL" "$IMAGE" >/dev/null
"$BERTH" images "$IMAGE"
