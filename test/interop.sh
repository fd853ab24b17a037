#!/bin/sh
# interop.sh: images move between berth and podman both ways.
#   berth image save -> podman load -> podman run
#   podman save (docker-archive and oci-archive) -> berth load -> berth run
# and skopeo reads berth's archive as both docker-archive: and oci-archive:.
# Run by `make test-interop` (as root); installs podman, runc and skopeo
# from Debian when missing. podman keeps its storage in a temporary
# directory: the host's podman images are never touched.
set -eu
BERTH=$(cd "$(dirname "$0")/.." && pwd)/bin/berth

need=""
for pair in podman:podman skopeo:skopeo runc:runc busybox:busybox-static; do
	command -v "${pair%%:*}" >/dev/null || need="$need ${pair##*:}"
done
if [ -n "$need" ]; then
	echo "installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends $need >/dev/null ||
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends $need >/dev/null; }
fi

tmp=$(mktemp -d /tmp/berth-interop.XXXXXX)
# podman's cgroupfs manager leaves an empty libpod_parent group behind:
# remove it unless it was there before.
had_libpod=$(ls -d /sys/fs/cgroup/libpod_parent /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true)
cleanup() {
	$P rm -af >/dev/null 2>&1 || true
	$P rmi -af >/dev/null 2>&1 || true
	rm -rf "$tmp"
	if [ -z "$had_libpod" ]; then
		for d in /sys/fs/cgroup/libpod_parent /sys/fs/cgroup/*/libpod_parent; do
			[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
		done
	fi
	return 0
}
# runc, not crun: crun refuses hosts whose cgroups are hybrid (v1 with a
# v2 mount), such as the one this was written on. vfs needs no mounts.
P="podman --root $tmp/podman --runroot $tmp/podman-run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none --runtime runc"
trap cleanup EXIT INT TERM
B="$BERTH --root $tmp/berth"
# podman raises the container's rlimits to its defaults, which fails where
# root lacks CAP_SYS_RESOURCE; these are below any hard limit.
ULIMITS="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { # check WANT GOT WHAT
	[ "$1" = "$2" ] || fail "$3: got '$2', want '$1'"
	echo "ok: $3"
}

mkdir -p "$tmp/rootfs/bin"
cp "$(command -v busybox)" "$tmp/rootfs/bin/busybox"
for a in sh echo cat; do ln -s busybox "$tmp/rootfs/bin/$a"; done
echo "made by berth" > "$tmp/rootfs/origin"
tar -C "$tmp/rootfs" -czf "$tmp/rootfs.tar.gz" .

# berth -> podman
$B image import "$tmp/rootfs.tar.gz" localhost/interop/from-berth:1 >/dev/null
$B image save -o "$tmp/berth.tar" localhost/interop/from-berth:1
skopeo inspect "docker-archive:$tmp/berth.tar" >/dev/null || fail "skopeo cannot read berth's archive as docker-archive"
echo "ok: skopeo reads it as docker-archive"
skopeo inspect "oci-archive:$tmp/berth.tar" >/dev/null || fail "skopeo cannot read berth's archive as oci-archive"
echo "ok: skopeo reads it as oci-archive"
$P load -q -i "$tmp/berth.tar" >/dev/null
check "made by berth" "$($P run --rm --network none $ULIMITS localhost/interop/from-berth:1 cat /origin)" "podman runs berth's image"
check "$($B images -q --no-trunc)" "$($P images -q --no-trunc localhost/interop/from-berth:1)" "same image ID in podman"

# podman -> berth, both of podman's formats
echo "made by podman" > "$tmp/rootfs/origin"
tar -C "$tmp/rootfs" -cf "$tmp/rootfs2.tar" .
$P import -q "$tmp/rootfs2.tar" localhost/interop/from-podman:1 >/dev/null
for format in docker-archive oci-archive; do
	rm -f "$tmp/podman.tar"
	$P save -q --format "$format" -o "$tmp/podman.tar" localhost/interop/from-podman:1
	check "Loaded image: localhost/interop/from-podman:1" "$($B load -i "$tmp/podman.tar")" "berth loads podman's $format"
	check "made by podman" "$($B run --rm --network none localhost/interop/from-podman:1 cat /origin)" "berth runs podman's image ($format)"
	check "$($P images -q --no-trunc localhost/interop/from-podman:1)" "$($B image inspect -f '{{.Id}}' localhost/interop/from-podman:1)" "same image ID in berth ($format)"
	$B rmi localhost/interop/from-podman:1 >/dev/null
done
echo "interop: all passed"
