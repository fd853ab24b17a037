#!/usr/bin/env bash
# bench/build.sh: `berth build` against `buildah bud --layers` (Debian's
# buildah) on the same Dockerfile and context, three cases:
#
#   cold      both caches empty: every step runs        goal berth <= 0.7x buildah
#   no-op     the same build again: every step cached   goal berth <= 0.2x buildah
#   one file  one copied file changed: that COPY and    goal berth <= 0.7x buildah
#             the steps after it run again
#
# The Dockerfile (written below) starts FROM a busybox image both sides hold
# with the same layer: the busybox-static rootfs is `berth image import`ed,
# `berth save`d and that archive pulled into buildah's store (docker-archive:),
# so no registry is needed. Then RUN steps (mkdir, written files, a shell
# loop), ENV, LABEL, WORKDIR, a COPY of a small source tree, a RUN that reads
# it, CMD. RUN steps get --network none on both sides (BUILD_NETWORK).
#
# Each round gives each side a fresh store holding only the base image and a
# fresh copy of the context, then times cold, no-op and one-file builds, one
# after the other, with a sync before each. Sides take turns going first,
# round by round; ROUNDS rounds after WARMUP untimed ones; medians. The
# no-op rebuild must give the cold build's image ID (checked).
#
# buildah uses its overlay driver and OCI isolation (runc, or crun when
# there is no runc) when they work here, chroot and then vfs otherwise
# (said in the output). It sees nothing of the host's configuration or
# storage: own storage.conf, registries.conf, containers.conf and
# policy.json, and the script re-executes itself in mount and network
# namespaces of its own (unshare), where /run is a fresh tmpfs (buildah's
# and the OCI runtime's run-time state) and /var/lib/containers an
# empty directory (c/image's blob-info cache). Its loopback is the only
# network: nothing here touches the host's links, rules or storage.
#
# Run as root (make bench). Environment:
#   BERTH=path        berth binary (default bin/berth of this checkout, made by
#                     make build when missing; berth-registry and berth-init beside it)
#   ROUNDS=5          timed rounds;  WARMUP=1  untimed rounds first
#   BUILD_NETWORK=none   --network for RUN steps on both sides (none or host)
#   BUILDAH_ONLY=1    time buildah alone (for when berth build is missing)
#   KEEP=1            keep the temp dir (stores, contexts, logs)
#
# The EXIT trap unmounts and removes everything made here; the namespaces
# end with the script. No process is started in the background.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root "containers, overlay mounts and namespaces need it"

ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
BUILD_NETWORK=${BUILD_NETWORK:-none}
BUILDAH_ONLY=${BUILDAH_ONLY:-}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$REPO/bench/build.sh
VARLIB=/var/lib/containers
[[ $BUILD_NETWORK == none || $BUILD_NETWORK == host ]] || die "BUILD_NETWORK=$BUILD_NETWORK: use none or host (both stay in the bench's own network namespace)"

# --- outside the namespaces: packages, binaries, the mount point ----------------
if [[ -z ${BERTH_BENCH_BUILD_NS:-} ]]; then
	pkgs=()
	command -v buildah >/dev/null || pkgs+=(buildah)
	command -v crun >/dev/null || command -v runc >/dev/null || pkgs+=(crun)
	command -v unshare >/dev/null || pkgs+=(util-linux)
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || pkgs+=(busybox-static)
	if ((${#pkgs[@]})); then
		say "installing from Debian: ${pkgs[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
	fi
	if [[ -z ${BERTH:-} && (! -x $REPO/bin/berth || ! -x $REPO/bin/berth-registry || ! -x $REPO/bin/berth-init) ]]; then
		say "bin/berth, bin/berth-registry or bin/berth-init missing: make build"
		make -C "$REPO" build >/dev/null
	fi
	BERTH=$(readlink -f -- "${BERTH:-$REPO/bin/berth}")
	[[ -x $BERTH ]] || die "berth binary not found at '$BERTH' (make build, or set BERTH=/path/to/berth)"
	if [[ -z $BUILDAH_ONLY ]] && ! "$BERTH" build --help >/dev/null 2>&1; then
		die "'$BERTH build' is not there yet (berth build --help fails), so there is nothing to compare;
  rebuild berth once it has the build command (make build), or run BUILDAH_ONLY=1 $0 to time buildah alone"
	fi
	# A bind mount needs a mount point: when there is none, make it, empty,
	# and remove it again at the end.
	made=
	if [[ ! -e $VARLIB ]]; then
		mkdir -p "$VARLIB"
		made=1
	fi
	rc=0
	trap : INT TERM # outlive an interrupted child long enough to tidy up
	BERTH=$BERTH BERTH_BENCH_BUILD_NS=1 unshare --mount --net --propagation private -- "$SELF" "$@" || rc=$?
	if [[ -n $made ]]; then
		rmdir "$VARLIB" 2>/dev/null || warn "$VARLIB is not empty after the run; left in place"
	fi
	exit "$rc"
fi

# ==== from here on: in mount and network namespaces of our own ===================

BUSYBOX=$(dpkg-query -L busybox-static | grep -m1 -E '/bin/busybox$')
[[ -x $BUSYBOX ]] || die "busybox-static is installed but $BUSYBOX is missing"

WORK=
cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n $WORK && -d $WORK ]]; then
		unmount_under "$WORK"
		remove_work "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
ip link set lo up
mount -t tmpfs -o mode=0755 bench-run /run
mkdir -p "$WORK/varlib" "$WORK/tmp"
mount --bind "$WORK/varlib" "$VARLIB"
export TMPDIR=$WORK/tmp

# --- buildah's configuration: nothing of the host's -------------------------------
cat >"$WORK/policy.json" <<'EOF'
{"default": [{"type": "insecureAcceptAnything"}]}
EOF
cat >"$WORK/registries.conf" <<'EOF'
unqualified-search-registries = []
EOF
# runc, not crun, when both are there: Debian's crun refuses hybrid cgroup
# layouts (v1 controllers beside a v2 mount), which runc and berth handle.
OCI_RUNTIME=$(command -v runc || command -v crun)
cat >"$WORK/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
runtime = "$(basename "$OCI_RUNTIME")"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/unused/root"
runroot = "$WORK/unused/run"
EOF
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf CONTAINERS_CONF=$WORK/containers.conf
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
unset BUILDAH_ISOLATION BUILDAH_LAYERS BUILDAH_FORMAT

# --- the base image: busybox, the same layer on both sides ---------------------------
BASE=bench-busybox:1
ROOTFS=$WORK/rootfs
busybox_rootfs "$ROOTFS"
tar --numeric-owner -C "$ROOTFS" -cf "$WORK/busybox.tar" .
"$BERTH" --root "$WORK/base-berth" image import "$WORK/busybox.tar" "$BASE" >/dev/null
"$BERTH" --root "$WORK/base-berth" save -o "$WORK/base.tar" "$BASE"

# --- the Dockerfile and its context ---------------------------------------------------
CTX=$WORK/context
mkdir -p "$CTX"
cat >"$CTX/Dockerfile" <<EOF
FROM $BASE
ENV APP=/app GREETING=hello
LABEL org.opencontainers.image.title="berth bench" org.opencontainers.image.version="1"
WORKDIR /app
RUN mkdir -p data logs gen && echo "\$GREETING" >data/greeting && date -u -d @0 >data/stamp
RUN i=0; while [ \$i -lt 200 ]; do echo "line \$i" >>data/lines; i=\$((i + 1)); done
RUN for d in a b c d; do mkdir -p gen/\$d; for f in 1 2 3 4 5; do echo "\$d\$f" >gen/\$d/\$f; done; done
COPY src/ /app/src/
RUN find src -type f | sort | xargs cat | wc -l >data/count
CMD ["sh", "-c", "cat data/greeting data/count"]
EOF
printf 'src/**/*.tmp\n' >"$CTX/.dockerignore"
# 24 small files in 4 directories, a few KiB each; deterministic.
for d in cmd lib web docs; do
	mkdir -p "$CTX/src/$d"
	for f in 1 2 3 4 5 6; do
		for ((l = 0; l < 40 * f; l++)); do printf '%s/%s line %d of the bench source tree\n' "$d" "$f" "$l"; done >"$CTX/src/$d/file$f.txt"
	done
done
CHANGED=src/lib/file3.txt

# --- the two sides ---------------------------------------------------------------------
DRIVER=overlay
ISOLATION=oci
BH_NETWORK=$BUILD_NETWORK
# bh DIR ARGS: buildah on the store under DIR
bh() { local d=$1; shift; buildah --root "$d/root" --runroot "$d/run" --storage-driver "$DRIVER" "$@"; }
bud() { bh "$1" bud --layers -q --isolation "$ISOLATION" --network "$BH_NETWORK" --signature-policy "$WORK/policy.json" -t bench-app:latest "$2"; }
berth_build() { "$BERTH" --root "$1" build -q --network "$BUILD_NETWORK" -t bench-app:latest "$2"; }

# fresh SIDE NAME: a store for SIDE with only the base image, at $WORK/stores/NAME
fresh() {
	local dir=$WORK/stores/$2
	mkdir -p "$dir"
	case $1 in
	berth) "$BERTH" --root "$dir" image import "$WORK/busybox.tar" "$BASE" >/dev/null ;;
	buildah) bh "$dir" pull -q --signature-policy "$WORK/policy.json" "docker-archive:$WORK/base.tar" >/dev/null ;;
	esac
	printf '%s' "$dir"
}

# probe: buildah must build here; overlay and OCI isolation when they work
probe_buildah() {
	local dir out
	dir=$(fresh buildah "probe-$DRIVER-$ISOLATION") || return 1
	out=$(bud "$dir" "$CTX" 2>&1) || { PROBE_ERR=$out; return 1; }
}
PROBE_ERR=
DRIVER_NOTE="overlay (native, on $(findmnt -no FSTYPE -T "$WORK"))"
ISOLATION_NOTE="oci ($(basename "$OCI_RUNTIME"))"
if ! probe_buildah; then
	say "buildah with overlay storage and OCI isolation fails here: $PROBE_ERR"
	# chroot isolation has no network namespace of its own to offer:
	# buildah's RUN steps then share the bench's (loopback only).
	ISOLATION=chroot BH_NETWORK=host
	ISOLATION_NOTE="chroot, --network host (OCI isolation failed here, see above)"
	if ! probe_buildah; then
		DRIVER=vfs
		DRIVER_NOTE="vfs (overlay failed here, see above): every layer is a full copy, slower than buildah normally is"
		probe_buildah || die "buildah bud fails with vfs and chroot isolation too: $PROBE_ERR"
	fi
fi
SIDES=(berth buildah)
[[ -n $BUILDAH_ONLY ]] && SIDES=(buildah)

TIMES=$WORK/times.tsv # side round case wall user sys (seconds)
: >"$TIMES"
# timed SIDE ROUND CASE STORE: one build, its times appended to $TIMES,
# its image ID left in $ID
timed() {
	local side=$1 round=$2 case=$3 store=$4 t ctx=$WORK/ctx/$1-$2
	sync
	TIMEFORMAT='%3R %3U %3S'
	if ! t=$({ time "${side}_run" "$store" "$ctx" >"$WORK/out" 2>"$WORK/err"; } 2>&1); then
		die "$side: $case build failed in round $round:
$(tail -n 30 "$WORK/err")"
	fi
	ID=$(tail -n 1 "$WORK/out")
	ID=${ID#sha256:}
	((round > 0)) && printf '%s\t%s\t%s\t%s\n' "$side" "$round" "$case" "${t// /$'\t'}" >>"$TIMES"
	printf ' %s %.2fs' "$case" "${t%% *}"
}
berth_run() { berth_build "$@"; }
buildah_run() { bud "$@"; }

# side SIDE ROUND: cold, no-op and one-file builds of a fresh store and context
side() {
	local s=$1 r=$2 store cold noop
	store=$(fresh "$s" "$s-$r")
	mkdir -p "$WORK/ctx"
	cp -a "$CTX" "$WORK/ctx/$s-$r"
	printf '  %-8s' "$s:"
	timed "$s" "$r" cold "$store"
	cold=$ID
	timed "$s" "$r" noop "$store"
	noop=$ID
	[[ $noop == "$cold" ]] || NOTES+=("$s, round $r: the no-op rebuild gave image ${noop:0:12}, not the cold build's ${cold:0:12}")
	printf '// changed in round %s\n' "$r" >>"$WORK/ctx/$s-$r/$CHANGED"
	timed "$s" "$r" onefile "$store"
	[[ $ID != "$cold" ]] || NOTES+=("$s, round $r: changing $CHANGED gave the same image ID")
	printf '\n'
}

# check: the berth image of round 1 runs and has the changed file.
check_berth() {
	local out
	out=$("$BERTH" --root "$WORK/stores/berth-1" run --rm --network none bench-app:latest sh -c 'tail -n 1 src/lib/file3.txt; cat data/greeting' 2>&1) ||
		die "running berth's built image failed: $out"
	[[ $out == *"changed in round 1"*hello* ]] || die "berth's built image lacks the changed file or the RUN output: $out"
}

say "berth: $BERTH"
say "buildah: $(buildah --version), storage $DRIVER_NOTE, isolation $ISOLATION_NOTE"
say "host: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
say ""
say "timing: $WARMUP warm-up + $ROUNDS rounds; each side a fresh store (base image only) and context per round;"
say "RUN steps with --network $BUILD_NETWORK; a sync before every build"
NOTES=()
for ((r = 1 - WARMUP; r <= ROUNDS; r++)); do
	if ((r > 0)); then say "round $r:"; else say "warm-up:"; fi
	for ((i = 0; i < ${#SIDES[@]}; i++)); do
		side "${SIDES[(i + r + 2) % ${#SIDES[@]}]}" "$r"
	done
done
[[ -n $BUILDAH_ONLY ]] || check_berth

# median SIDE CASE FIELD: in ms
median() {
	awk -v s="$1" -v c="$2" -v f="$3" -F'\t' '$1 == s && $3 == c { print $f * 1000 }' "$TIMES" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
CASES=(cold noop onefile)
declare -A LABEL=([cold]="cold" [noop]="no-op rebuild" [onefile]="one file changed") GOAL=([cold]=0.7 [noop]=0.2 [onefile]=0.7)
say ""
say "median wall time of $ROUNDS rounds (cpu user + sys, median, in parentheses)"
printf '  %-18s' ""
for s in "${SIDES[@]}"; do printf '%22s' "$s"; done
[[ -n $BUILDAH_ONLY ]] || printf '%16s   %s' "berth/buildah" "goal"
printf '\n'
MET=1
for c in "${CASES[@]}"; do
	printf '  %-18s' "${LABEL[$c]}"
	declare -A W=()
	for s in "${SIDES[@]}"; do
		W[$s]=$(median "$s" "$c" 4)
		printf '%9s ms (%4s+%4s)' "${W[$s]}" "$(median "$s" "$c" 5)" "$(median "$s" "$c" 6)"
	done
	if [[ -z $BUILDAH_ONLY ]]; then
		R=$(ratio "${W[berth]}" "${W[buildah]}")
		if awk -v r="$R" -v g="${GOAL[$c]}" 'BEGIN { exit !(r <= g) }'; then
			printf '%16s   <= %s: met' "$R" "${GOAL[$c]}"
		else
			printf '%16s   <= %s: NOT met' "$R" "${GOAL[$c]}"
			MET=
		fi
	fi
	printf '\n'
	unset W
done
say ""
for s in "${SIDES[@]}"; do
	for c in "${CASES[@]}"; do
		say "  $s ${LABEL[$c]}, every round (s): $(awk -v s="$s" -v c="$c" -F'\t' '$1 == s && $3 == c { printf "%s ", $4 }' "$TIMES")"
	done
done
for n in "${NOTES[@]}"; do warn "$n"; done
if [[ -n $BUILDAH_ONLY ]]; then
	say ""
	say "buildah alone (BUILDAH_ONLY): no ratios"
elif [[ -n $MET ]]; then
	say ""
	say "all three goals met"
fi
