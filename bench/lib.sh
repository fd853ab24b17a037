# shellcheck shell=bash
# bench/lib.sh: what the bench scripts (bench/*.sh) have in common. It is
# sourced, never run: each script starts with
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# which sets the shell options, PATH and locale of every bench and gives
# it say/warn/die, need_root and the helpers its EXIT trap tidies up with.
# Scripts that re-execute themselves (in namespaces of their own, as
# "$SELF") source it again in that run, so nothing here may mind being
# done twice.

# Run rather than sourced, it would set all this up for nothing.
(return 0 2>/dev/null) || {
	printf 'bench: %s is sourced by the bench scripts (bench/*.sh), not run\n' "$0" >&2
	exit 1
}

set -euo pipefail

# Go from /usr/local/go (make setup's) before any other, for the tools the
# benches build; the sbin directories, which sudo's PATH may lack, for ip,
# nft, umount and the like.
export PATH="/usr/local/go/bin:$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# The benches parse tools' output (numbers, sort -g, awk): one locale.
export LC_ALL=C

say() { printf '%s\n' "$*"; }
warn() { printf 'bench: %s\n' "$*" >&2; }
die() { warn "$*"; exit 1; }

# need_root WHY: the bench needs root for WHY; say so and how, without it.
need_root() { [[ $EUID -eq 0 ]] || die "must run as root ($1): sudo -E make bench"; }

# unmount_under DIR: unmount what the tools left mounted below DIR/,
# deepest first (a mount on top would keep the one below busy), lazily
# when a plain umount fails, so that DIR can be removed.
unmount_under() {
	local m
	for m in $(findmnt -rn -o TARGET | grep -F -- "$1/" | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

# remove_work DIR: remove the bench's temp dir, unless KEEP is set, for
# inspection. --one-file-system: a mount that is still there below DIR
# is left alone, not emptied.
remove_work() {
	if [[ -n ${KEEP:-} ]]; then
		say "KEEP set: left $1"
	else
		rm -rf --one-file-system -- "$1"
	fi
}

# stop_berth_helpers ROOT [HELPER...]: end what berth started for --root
# ROOT and that outlives the bench's last command otherwise: its engine and
# DNS helper, or just the HELPERs named (engine, dns). Each by the pid it
# noted in ROOT/run/HELPER.pid, and only once that pid's command line shows
# ROOT: a stale pid file may name someone else's process by now.
stop_berth_helpers() {
	local root=$1 f pid
	shift
	(($#)) || set -- engine dns
	for f in "$@"; do
		if pid=$(cat "$root/run/$f.pid" 2>/dev/null) && grep -qF "$root" "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null
		fi
	done
}

# busybox_rootfs DIR: a root filesystem of Debian's static busybox in DIR,
# with every applet linked (what `busybox --install -s /bin` does inside
# it, with relative links), root in passwd and group, and a /tmp anyone
# may write to. BUSYBOX names the binary (busybox-static's by default).
busybox_rootfs() {
	local dir=$1 bb=${BUSYBOX:-} applet
	[[ -n $bb ]] || bb=$(dpkg-query -L busybox-static | grep -m1 -E '/bin/busybox$')
	[[ -x $bb ]] || die "busybox-static's binary ($bb) is missing: apt-get install busybox-static"
	mkdir -p "$dir"/{bin,etc,tmp,root}
	chmod 1777 "$dir/tmp"
	cp "$bb" "$dir/bin/busybox"
	for applet in $("$dir/bin/busybox" --list); do
		[[ -e $dir/bin/$applet ]] || ln -s busybox "$dir/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
	printf 'root:x:0:\n' >"$dir/etc/group"
}

# Timings kept in $TIMES, a tab-separated file of "CASE KEY MS" lines
# (KEY: the side, or what was timed), which the script makes:
#   record CASE KEY MS   adds one;
#   median CASE KEY      prints the median of CASE's and KEY's, rounded;
#   all CASE KEY         prints them all, in the order they came.
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$TIMES"; }
median() {
	awk -v c="$1" -v k="$2" -F'\t' '$1 == c && $2 == k { print $3 }' "$TIMES" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
all() { awk -v c="$1" -v k="$2" -F'\t' '$1 == c && $2 == k { printf "%s ", $3 }' "$TIMES"; }
