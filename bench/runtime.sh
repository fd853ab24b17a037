#!/usr/bin/env bash
# bench/runtime.sh: compare berth with runc and crun.
#
#   1. start+stop latency of a container running /bin/true (one hyperfine
#      invocation: berth, crun, runc, plus a bare unshare+chroot baseline),
#      all with the same limits (64 MiB memory, 100 pids, own network ns);
#   2. resident memory of berth's per-container process (its init) against
#      conmon's, the per-container monitor podman puts next to runc.
#
# Run as root (make bench). Environment:
#   BERTH=path      berth binary (default: bin/berth of this checkout, from make build)
#   RUNS=50         hyperfine runs per command;  WARMUP=5  warm-up runs
#   BENCH_JSON=f    also keep hyperfine's JSON export at f
#
# Hybrid cgroup hosts (v1 controllers plus a cgroup2 mount at
# /sys/fs/cgroup/unified that holds controllers of its own, e.g. hugetlb):
# crun refuses to run there ("cgroups in hybrid mode not supported"). For the
# duration of the benchmark the script binds each such controller to a v1
# hierarchy of its own at /sys/fs/cgroup/<controller>, so that all three
# runtimes are timed under the same layout, and puts it back on the cgroup2
# mount on exit. If that cannot be done, crun is left out and the reason is
# printed.
#
# Everything made here (temp dir, containers, mounts, cgroup layout) is
# undone by the EXIT trap. Processes are only ever signalled by the pid that
# this script started.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
# ./bin/berth of this checkout (where `make build` puts it), whatever the cwd
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BERTH_ARG=${BERTH:-$REPO/bin/berth}
CG=/sys/fs/cgroup
UNIFIED=$CG/unified

need_root "containers, cgroups and mounts need it"

# --- berth binary -----------------------------------------------------------
BERTH=$BERTH_ARG
if [[ $BERTH != */* ]]; then
	BERTH=$(command -v -- "$BERTH" || true)
fi
if [[ -z $BERTH || ! -f $BERTH || ! -x $BERTH ]]; then
	die "berth binary not found or not executable at '$BERTH_ARG'; run 'make build' first (or set BERTH=/path/to/berth)"
fi
BERTH=$(readlink -f -- "$BERTH")

# --- packages -----------------------------------------------------------------
pkgs=()
command -v runc >/dev/null || pkgs+=(runc)
command -v crun >/dev/null || pkgs+=(crun)
command -v hyperfine >/dev/null || pkgs+=(hyperfine)
command -v conmon >/dev/null || pkgs+=(conmon)
command -v jq >/dev/null || pkgs+=(jq)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || pkgs+=(busybox-static)
if ((${#pkgs[@]})); then
	say "installing from Debian: ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
RUNC=$(command -v runc)
CRUN=$(command -v crun)
CONMON=$(command -v conmon)
BUSYBOX=$(dpkg-query -L busybox-static | grep -m1 -E '/bin/busybox$')
[[ -x $BUSYBOX ]] || die "busybox-static installed but $BUSYBOX is missing"

# --- state for the EXIT trap -------------------------------------------------
WORK=
BERTH_MEM_STARTED=
CONMON_CID=
CONMON_PID=
CG_MOVED=()        # "controller:dir:made" for each controller bound to v1 here
CG_ORIG_CTRLS=
CG_ORIG_MOUNTS=

cg_mounts() { findmnt -rn -R -o TARGET,FSTYPE,OPTIONS "$CG" 2>/dev/null || true; }

# Is pid alive and not a zombie?
alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

gone() { ! alive "$1"; }
runc_stopped() { [[ $("$RUNC" --root "$WORK/runc" state "$1" 2>/dev/null | jq -r .status) != running ]]; }

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s.
wait_until() {
	local n=$(($1 * 10)); shift
	while ((n-- > 0)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# Number of cgroups (root included) in the v1 hierarchy holding controller $1.
cg_count() { awk -v c="$1" '$1 == c { print $4 }' /proc/cgroups; }
cg_count_is_1() { [[ $(cg_count "$1") == 1 ]]; }
on_v2() { grep -qw -- "$1" "$UNIFIED/cgroup.controllers"; }
rmdir_children() { find "$1" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true; }

# Give controller $1, bound to a v1 hierarchy mounted at $2, back to cgroup2.
# A v1 hierarchy is destroyed (and its controllers return to cgroup2) when it
# is unmounted with no child cgroups, including ones still being freed after
# rmdir; /proc/cgroups counts those too, so wait for it to reach 1 first. If a
# child outlived the umount anyway, mount the hierarchy again and repeat.
cg_release() {
	local c=$1 d=$2 made=$3 tmp
	rmdir_children "$d"
	wait_until 10 cg_count_is_1 "$c" || warn "$c: child cgroups still present: $(cg_count "$c")"
	umount "$d" || { warn "umount $d failed"; return 1; }
	[[ $made == 1 ]] && rmdir "$d"
	for _ in 1 2 3; do
		wait_until 3 on_v2 "$c" && return 0
		tmp=$(mktemp -d /tmp/berth-bench-cg.XXXXXX)
		if mount -t cgroup -o "$c" cgroup "$tmp"; then
			rmdir_children "$tmp"
			wait_until 10 cg_count_is_1 "$c" || true
			umount "$tmp"
		fi
		rmdir "$tmp"
	done
	on_v2 "$c"
}

cg_restore() {
	local i c d made
	((${#CG_MOVED[@]})) || return 0
	for ((i = ${#CG_MOVED[@]} - 1; i >= 0; i--)); do
		IFS=: read -r c d made <<<"${CG_MOVED[i]}"
		cg_release "$c" "$d" "$made" || warn "could not give $c back to cgroup2"
	done
	CG_MOVED=()
	if [[ "$(cat "$UNIFIED/cgroup.controllers")" == "$CG_ORIG_CTRLS" && "$(cg_mounts)" == "$CG_ORIG_MOUNTS" ]]; then
		say "cgroup layout restored ($UNIFIED controllers: ${CG_ORIG_CTRLS:-none})"
	else
		warn "cgroup layout NOT fully restored; was:"
		printf '  controllers on %s: %s\n%s\n' "$UNIFIED" "$CG_ORIG_CTRLS" "$CG_ORIG_MOUNTS" >&2
		warn "now:"
		printf '  controllers on %s: %s\n%s\n' "$UNIFIED" "$(cat "$UNIFIED/cgroup.controllers")" "$(cg_mounts)" >&2
	fi
}

# Delete every container left in an OCI runtime's state dir (interrupted runs).
oci_sweep() {
	local rt=$1 root=$2 id
	[[ -d $root ]] || return 0
	for id in $("$rt" --root "$root" list -q 2>/dev/null); do
		"$rt" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
	done
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n $BERTH_MEM_STARTED ]]; then
		"$BERTH" --root "$WORK/berth" rm -f membench >/dev/null 2>&1
	fi
	if [[ -n $CONMON_CID ]]; then
		"$RUNC" --root "$WORK/runc" kill "$CONMON_CID" KILL >/dev/null 2>&1
		"$RUNC" --root "$WORK/runc" delete -f "$CONMON_CID" >/dev/null 2>&1
	fi
	if [[ -n $CONMON_PID ]]; then
		# conmon exits by itself once its container is gone
		if ! wait_until 5 gone "$CONMON_PID" &&
			grep -qa -- "membench-conmon-$$" "/proc/$CONMON_PID/cmdline" 2>/dev/null; then
			kill -KILL "$CONMON_PID" 2>/dev/null
		fi
	fi
	if [[ -n $WORK ]]; then
		oci_sweep "$RUNC" "$WORK/runc"
		oci_sweep "$CRUN" "$WORK/crun"
		# whatever berth or the runtimes left mounted under the temp dir
		unmount_under "$WORK"
	fi
	cg_restore
	if [[ -n $WORK && -d $WORK ]]; then
		if findmnt -rn -o TARGET | grep -qF -- "$WORK"; then
			warn "mounts remain under $WORK; not removing it"
		else
			rm -rf --one-file-system -- "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /tmp/berth-bench.XXXXXX)
ROOTFS=$WORK/rootfs
BUNDLE=$WORK/bundle
SLEEP_BUNDLE=$WORK/bundle-sleep
BROOT=$WORK/berth
mkdir -p "$BROOT" "$WORK/runc" "$WORK/crun"

# --- busybox root filesystem --------------------------------------------------
busybox_rootfs "$ROOTFS"
mkdir -p "$ROOTFS"/{dev,proc,sys}
cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF

# --- OCI bundles around the same rootfs ----------------------------------------
mkdir -p "$BUNDLE" "$SLEEP_BUNDLE"
"$RUNC" spec --bundle "$BUNDLE"
jq --arg rootfs "$ROOTFS" '
	.process.args = ["/bin/true"]
	| .process.terminal = false
	| .root.path = $rootfs
	| .root.readonly = false
	| .linux.resources.memory = {limit: 67108864}
	| .linux.resources.pids = {limit: 100}
' "$BUNDLE/config.json" >"$WORK/config.json"
mv "$WORK/config.json" "$BUNDLE/config.json"
jq '.process.args = ["/bin/sleep", "1000"]' "$BUNDLE/config.json" >"$SLEEP_BUNDLE/config.json"
jq -e '[.linux.namespaces[].type] | index("network") != null' "$BUNDLE/config.json" >/dev/null ||
	die "runc spec has no network namespace?"

# --- cgroup layout and crun ----------------------------------------------------
if [[ -d $UNIFIED ]]; then
	CG_ORIG_CTRLS=$(cat "$UNIFIED/cgroup.controllers" 2>/dev/null || true)
fi
CG_ORIG_MOUNTS=$(cg_mounts)

# Bind each controller found on the hybrid cgroup2 mount to its own v1
# hierarchy. Sets CG_WHY and returns 1 when it can't.
CG_WHY=
cg_unhybrid() {
	local c d made ctrls
	if [[ $(stat -f -c %T "$CG") != tmpfs || $(stat -f -c %T "$UNIFIED" 2>/dev/null) != cgroup2fs ]]; then
		CG_WHY="not the hybrid layout this script knows ($CG is $(stat -f -c %T "$CG"))"
		return 1
	fi
	ctrls=$(cat "$UNIFIED/cgroup.controllers")
	[[ -n $ctrls ]] || { CG_WHY="no controllers on $UNIFIED, nothing to move"; return 1; }
	if [[ -n $(cat "$UNIFIED/cgroup.subtree_control") ]]; then
		CG_WHY="controllers enabled in $UNIFIED/cgroup.subtree_control ($(cat "$UNIFIED/cgroup.subtree_control")) are in use; not moving them"
		return 1
	fi
	for c in $ctrls; do
		d=$CG/$c made=0
		if mountpoint -q "$d"; then
			CG_WHY="$d is already a mount point"
			return 1
		fi
		if [[ ! -e $d ]]; then
			mkdir "$d"
			made=1
		fi
		if ! mount -t cgroup -o "$c" cgroup "$d" 2>"$WORK/mount.err"; then
			CG_WHY="mount -t cgroup -o $c cgroup $d: $(cat "$WORK/mount.err")"
			[[ $made == 1 ]] && rmdir "$d"
			return 1
		fi
		CG_MOVED+=("$c:$d:$made")
	done
}

# crun_try: run /bin/true under crun once; CRUN_ERR holds its complaint.
CRUN_ERR=
crun_try() {
	CRUN_ERR=$("$CRUN" --root "$WORK/crun" run --bundle "$BUNDLE" "probe-crun-$$" </dev/null 2>&1) && return 0
	"$CRUN" --root "$WORK/crun" delete -f "probe-crun-$$" >/dev/null 2>&1 || true
	return 1
}

CRUN_OK=1
LAYOUT="as found"
if ! crun_try; then
	if [[ $CRUN_ERR == *hybrid* ]]; then
		say "crun on this host: $CRUN_ERR"
		if cg_unhybrid; then
			LAYOUT="controllers [$CG_ORIG_CTRLS] moved from $UNIFIED to v1 hierarchies for the run (restored on exit)"
			say "moved [$CG_ORIG_CTRLS] off $UNIFIED to their own v1 hierarchies (restored on exit)"
			if ! crun_try; then
				CRUN_OK=
				say "crun still fails after that: $CRUN_ERR"
				cg_restore
				LAYOUT="as found"
			fi
		else
			cg_restore
			CRUN_OK=
			say "cannot make the cgroup layout acceptable to crun: $CG_WHY"
		fi
	else
		CRUN_OK=
		say "crun fails on this host: $CRUN_ERR"
	fi
	[[ -n $CRUN_OK ]] || say "going on without crun"
fi

# runc and berth must work; fail with their own words rather than hyperfine's.
if ! out=$("$RUNC" --root "$WORK/runc" run --bundle "$BUNDLE" "probe-runc-$$" </dev/null 2>&1); then
	die "runc cannot run the bundle: $out"
fi
# the timing reuses one container id per runtime: make sure `run` left nothing
no_leftovers() {
	local left
	left=$("$1" --root "$2" list -q 2>/dev/null || true)
	[[ -z $left ]] || die "$(basename "$1") run left containers behind ($left); cannot reuse ids"
}
no_leftovers "$RUNC" "$WORK/runc"
[[ -n $CRUN_OK ]] && no_leftovers "$CRUN" "$WORK/crun"
BERTH_TRUE=("$BERTH" --root "$BROOT" run --rm --rootfs "$ROOTFS" --memory 64m --pids-limit 100 --network none -- /bin/true)
if ! out=$("${BERTH_TRUE[@]}" </dev/null 2>&1); then
	die "berth cannot run /bin/true: ${BERTH_TRUE[*]}: $out"
fi

# --- start+stop latency ---------------------------------------------------------
# hyperfine runs the commands without a shell (-N): on a busy 2-core VM its
# shell start-up correction is noisy enough to shift every median by
# milliseconds. Without a shell there is nothing to make a fresh id per run,
# so each runtime reuses one id: `runc run`/`crun run` without --detach delete
# the container when it exits (checked after the probes above and after the
# timing), so every run creates and destroys a new container under that id.
q() { printf '%q' "$1"; }
hf=(-n berth "$(printf '%q ' "${BERTH_TRUE[@]}")")
[[ -n $CRUN_OK ]] && hf+=(-n crun "$(q "$CRUN") --root $(q "$WORK/crun") run --bundle $(q "$BUNDLE") bench-crun-$$")
hf+=(-n runc "$(q "$RUNC") --root $(q "$WORK/runc") run --bundle $(q "$BUNDLE") bench-runc-$$")
hf+=(-n baseline "unshare --mount --pid --uts --ipc --net --fork chroot $(q "$ROOTFS") /bin/true")

say ""
say "cgroup layout: $LAYOUT"
say "hyperfine: $WARMUP warm-up + $RUNS runs each"
hyperfine -N --style=basic --warmup "$WARMUP" --runs "$RUNS" \
	--export-json "$WORK/hyperfine.json" "${hf[@]}"
no_leftovers "$RUNC" "$WORK/runc"
[[ -n $CRUN_OK ]] && no_leftovers "$CRUN" "$WORK/crun"
[[ -n ${BENCH_JSON:-} ]] && cp "$WORK/hyperfine.json" "$BENCH_JSON"

median_ms() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$WORK/hyperfine.json"; }
B=$(median_ms berth)
say ""
say "runtime start+stop of /bin/true (median of $RUNS; memory 64m, pids 100, own net ns)"
printf '  %-8s %7.1f ms\n' berth "$B"
for peer in crun runc; do
	[[ $peer == crun && -z $CRUN_OK ]] && { printf '  %-8s     n/a      (%s)\n' crun "not runnable here, see above"; continue; }
	P=$(median_ms "$peer")
	printf '  %-8s %7.1f ms   berth/%s = %.2f\n' "$peer" "$P" "$peer" "$(awk -v b="$B" -v p="$P" 'BEGIN { print b / p }')"
done
printf '  %-8s %7.1f ms   (unshare+chroot, no cgroups: reference floor)\n' baseline "$(median_ms baseline)"

# --- memory: berth's init against conmon ----------------------------------------
# prints "RSS PSS anonymous-PSS" in kB
rss_pss() { awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } /^Pss_Anon:/ { a = $2 } END { print r, p, a }' "/proc/$1/smaps_rollup"; }

say ""
say "memory of the per-container process (sleep 1000 container, /proc/PID/smaps_rollup)"
BERTH_MEM_STARTED=1
"$BERTH" --root "$BROOT" run -d --name membench --network none --rootfs "$ROOTFS" -- /bin/sleep 1000 </dev/null >/dev/null
BPID=$("$BERTH" --root "$BROOT" inspect membench | jq -r '.[0].State.Pid')
if ! [[ $BPID =~ ^[1-9][0-9]*$ ]] || ! alive "$BPID"; then
	die "berth inspect membench gave no live .[0].State.Pid ($BPID)"
fi
sleep 1
read -r B_RSS B_PSS B_ANON < <(rss_pss "$BPID")
"$BERTH" --root "$BROOT" rm -f membench >/dev/null
BERTH_MEM_STARTED=

# conmon + runc, started the way podman does: conmon runs `runc create` and
# stays as the container's monitor; then `runc start`.
conmon_measure() {
	local cm=$WORK/conmon
	mkdir -p "$cm"/{exit,sock,persist}
	CONMON_CID=membench-conmon-$$
	local rc=0
	"$CONMON" --api-version 1 -c "$CONMON_CID" -u "$CONMON_CID" -n "$CONMON_CID" \
		-r "$RUNC" --runtime-arg --root --runtime-arg "$WORK/runc" \
		-b "$SLEEP_BUNDLE" -p "$cm/container.pid" -l "k8s-file:$cm/container.log" \
		--exit-dir "$cm/exit" --persist-dir "$cm/persist" --socket-dir-path "$cm/sock" \
		--conmon-pidfile "$cm/conmon.pid" --log-level warning </dev/null >"$cm/out" 2>&1 || rc=$?
	if ((rc)); then
		CONMON_WHY="conmon exited with status $rc: $(cat "$cm/out")"
		return 1
	fi
	wait_until 5 test -s "$cm/conmon.pid" || { CONMON_WHY="conmon wrote no pid file: $(cat "$cm/out")"; return 1; }
	CONMON_PID=$(cat "$cm/conmon.pid")
	wait_until 5 test -s "$cm/container.pid" || { CONMON_WHY="runc create under conmon wrote no pid file: $(cat "$cm/out")"; return 1; }
	"$RUNC" --root "$WORK/runc" start "$CONMON_CID" 2>"$cm/start.err" || { CONMON_WHY="runc start: $(cat "$cm/start.err")"; return 1; }
	sleep 1
	alive "$CONMON_PID" || { CONMON_WHY="conmon (pid $CONMON_PID) exited early: $(cat "$cm/out")"; return 1; }
	read -r C_RSS C_PSS C_ANON < <(rss_pss "$CONMON_PID")
	"$RUNC" --root "$WORK/runc" kill "$CONMON_CID" KILL
	wait_until 5 runc_stopped "$CONMON_CID" || true
	"$RUNC" --root "$WORK/runc" delete -f "$CONMON_CID"
	CONMON_CID=
	# conmon exits after recording the exit code; kill it only if it doesn't
	if ! wait_until 5 gone "$CONMON_PID" &&
		grep -qa -- "membench-conmon-$$" "/proc/$CONMON_PID/cmdline" 2>/dev/null; then
		kill -KILL "$CONMON_PID"
	fi
	CONMON_PID=
}

CONMON_WHY=
printf '  %-20s RSS %6s kB   PSS %6s kB   (anon %5s kB)\n' "berth (init, pid 1)" "$B_RSS" "$B_PSS" "$B_ANON"
if conmon_measure; then
	printf '  %-20s RSS %6s kB   PSS %6s kB   (anon %5s kB)\n' "conmon (+runc)" "$C_RSS" "$C_PSS" "$C_ANON"
	printf '  berth/conmon PSS = %.2f\n' "$(awk -v b="$B_PSS" -v c="$C_PSS" 'BEGIN { print b / c }')"
	say "  (berth's init is also the container's PID 1; under conmon, /bin/sleep is PID 1 and not counted."
	say "   With one container, PSS charges it all of the binary's resident pages; containers of"
	say "   the same binary share those, so anon is the part every further container adds.)"
else
	say "  conmon: not measured: $CONMON_WHY"
fi
say ""
