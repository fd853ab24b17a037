#!/usr/bin/env bash
# bench/pull.sh: pull + unpack of a multi-layer image from a local registry,
# berth against `podman pull` and `skopeo copy` (to an OCI directory).
#
# The image (bench/mkimage): busybox-static plus generated data, ~99 MiB
# unpacked (~85 MiB of gzip blobs) in 7 layers: big incompressible files,
# 1 MiB text files, 768 files of 16 KiB, 6000 files of 0.5-2 KiB with
# symlinks and hard links, whiteouts. Deterministic: same digests every run.
# It is pushed with skopeo to Debian's docker-registry on 127.0.0.1 (a free
# port, storage in the temp dir) and pulled from there, so the network is
# loopback and the registry serves from the page cache: what is timed is the
# client (HTTP, sha256, gunzip, unpack, store bookkeeping, fsyncs).
#
# Every timed run starts from an empty store (the previous one is renamed
# away, see reset.sh below) and a `sync`, so that no run pays for another's
# writeback. The three tools take turns, round by round:
#   berth   berth --root DIR pull -q REF        (downloads, verifies, unpacks)
#   podman  podman --root --runroot --tmpdir ... pull -q REF  (same; overlay
#           driver, vfs if overlay does not work here, said in the output)
#   skopeo  skopeo copy docker://REF oci:DIR    (download + verify only: it
#           does NOT unpack layers, so it is a floor, not a peer)
# podman and skopeo see no host configuration: own storage, registries.conf
# and policy.json; c/image's blob-info cache, which they keep in
# /var/lib/containers/cache as root whatever the flags, is bind-mounted from
# the temp dir inside a private mount namespace (the script re-executes
# itself under `unshare --mount`), and emptied before each run.
#
# Run as root (make bench). Environment:
#   BERTH=path    berth binary (default bin/berth of this checkout; built with
#                 `make build` when missing; it execs bin/berth-registry)
#   RUNS=5        timed runs per tool;  WARMUP=1  untimed rounds first
#   BENCH_DIR=d   where the temp dir goes (default /tmp): its file system is
#                 where everything is written (registry, stores)
#   BENCH_JSON=f  also write every run's wall/user/sys times to f (JSON)
#   KEEP=1        keep the temp dir (all the stores) for inspection
#
# Everything made here (temp dir, registry process, mounts) is undone by the
# EXIT trap; the registry is stopped by the pid this script started.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_root "podman's overlay storage and berth's unpacking need it"

RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$REPO/bench/pull.sh
CACHE_DIR=/var/lib/containers

# --- packages (before the namespace: apt needs nothing from it) ---------------
if [[ -z ${BERTH_BENCH_PULL_NS:-} ]]; then
	pkgs=()
	command -v podman >/dev/null || pkgs+=(podman)
	command -v skopeo >/dev/null || pkgs+=(skopeo)
	command -v jq >/dev/null || pkgs+=(jq)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v unshare >/dev/null || pkgs+=(util-linux)
	[[ -x /usr/bin/docker-registry ]] || pkgs+=(docker-registry)
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || pkgs+=(busybox-static)
	if ((${#pkgs[@]})); then
		say "installing from Debian: ${pkgs[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
	fi

	# The bind mount below needs a mount point. When /var/lib/containers
	# does not exist we make it, empty, and remove it again at the end.
	made=
	if [[ ! -e $CACHE_DIR ]]; then
		mkdir -p "$CACHE_DIR"
		made=1
	fi
	rc=0
	trap : INT TERM # outlive an interrupted child long enough to tidy up
	BERTH_BENCH_PULL_NS=1 unshare --mount --propagation private -- "$SELF" "$@" || rc=$?
	if [[ -n $made ]]; then
		rmdir "$CACHE_DIR" 2>/dev/null || warn "$CACHE_DIR is not empty after the run; left in place"
	fi
	exit "$rc"
fi

# ==== from here on: in our own mount namespace ===============================

# --- berth binary -------------------------------------------------------------
BERTH_ARG=${BERTH:-$REPO/bin/berth}
if [[ -z ${BERTH:-} && ( ! -x $REPO/bin/berth || ! -x $REPO/bin/berth-registry ) ]]; then
	say "bin/berth or bin/berth-registry missing: make build"
	make -C "$REPO" build >/dev/null
fi
BERTH=$BERTH_ARG
[[ $BERTH == */* ]] || BERTH=$(command -v -- "$BERTH" || true)
[[ -n $BERTH && -f $BERTH && -x $BERTH ]] || die "berth binary not found or not executable at '$BERTH_ARG'"
BERTH=$(readlink -f -- "$BERTH")
[[ -x $(dirname "$BERTH")/berth-registry ]] || die "$(dirname "$BERTH")/berth-registry is missing: berth pull execs it (make build makes both)"
GO=$(command -v go || true)
[[ -n $GO ]] || die "go is needed to build bench/mkimage (Go >= 1.26 in /usr/local/go/bin)"
BUSYBOX=$(dpkg-query -L busybox-static | grep -m1 -E '/bin/busybox$')
[[ -x $BUSYBOX ]] || die "busybox-static installed but $BUSYBOX is missing"

# --- state for the EXIT trap -------------------------------------------------
WORK=
REG_PID=

alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

stop_registry() {
	[[ -n $REG_PID ]] || return 0
	kill -TERM "$REG_PID" 2>/dev/null || true
	for _ in $(seq 50); do alive "$REG_PID" || break; sleep 0.1; done
	if alive "$REG_PID"; then kill -KILL "$REG_PID" 2>/dev/null || true; fi
	wait "$REG_PID" 2>/dev/null || true
	REG_PID=
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	stop_registry
	if [[ -n $WORK && -d $WORK ]]; then
		unmount_under "$WORK"
		mountpoint -q "$CACHE_DIR" && umount "$CACHE_DIR"
		if [[ -z ${KEEP:-} ]] && findmnt -rn -o TARGET | grep -qF -- "$WORK"; then
			warn "mounts remain under $WORK; not removing it"
		else
			remove_work "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/berth-bench-pull.XXXXXX")
# every run's store stays until the end (see reset.sh): ~370 MiB a round
need=$(((RUNS + WARMUP + 1) * 400 + 300))
avail=$(df --output=avail -m "$WORK" | tail -1 | tr -d ' ')
((avail > need)) || die "$WORK has $avail MiB free; this needs about $need MiB (fewer RUNS?)"
mkdir -p "$WORK/c-image-cache"
mount --bind "$WORK/c-image-cache" "$CACHE_DIR"

# --- configuration for podman and skopeo: nothing of the host's ----------------
cat >"$WORK/policy.json" <<'EOF'
{"default": [{"type": "insecureAcceptAnything"}]}
EOF
cat >"$WORK/registries.conf" <<'EOF'
unqualified-search-registries = []
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/podman/root"
runroot = "$WORK/podman/run"
EOF
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
# no credentials: the registry has no auth, and the host's auth files stay unread
AUTH=$WORK/auth.json
echo '{}' >"$AUTH"

# --- registry ---------------------------------------------------------------------
# A port nobody listens on; docker-registry may still lose a race for it, so
# starting is retried with another one.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start_registry() {
	local port try n
	mkdir -p "$WORK/registry"
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		port_in_use "$port" && continue
		cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		# REGISTRY_* variables would override its configuration
		(
			for v in $(compgen -e | grep '^REGISTRY_' || true); do unset "$v"; done
			exec /usr/bin/docker-registry serve "$WORK/registry/config.yml"
		) >"$WORK/registry/log" 2>&1 &
		REG_PID=$!
		for ((n = 0; n < 150; n++)); do
			if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/") == 200 ]]; then
				REGISTRY=127.0.0.1:$port
				return 0
			fi
			alive "$REG_PID" || break
			sleep 0.1
		done
		warn "docker-registry on port $port did not come up (try $try): $(tail -3 "$WORK/registry/log")"
		stop_registry
	done
	die "could not start docker-registry"
}
start_registry
REF=$REGISTRY/bench/pull:latest
say "registry: docker-registry $(/usr/bin/docker-registry --version 2>/dev/null | awk '{print $NF}') on $REGISTRY (pid $REG_PID)"

# --- the image ---------------------------------------------------------------------
say "generating the test image (bench/mkimage):"
(cd "$REPO" && CGO_ENABLED=0 "$GO" build -o "$WORK/mkimage" ./bench/mkimage)
"$WORK/mkimage" -busybox "$BUSYBOX" -out "$WORK/src" | tee "$WORK/mkimage.out" | sed 's/^/  /'
skopeo --policy "$WORK/policy.json" copy -q --dest-authfile "$AUTH" --dest-tls-verify=false "oci:$WORK/src:latest" "docker://$REF" ||
	die "skopeo could not push the test image to $REF"
MANIFEST=$(awk '/^manifest / { print $2 }' "$WORK/mkimage.out")
BLOB_MIB=$(awk '/ total / { print $3 }' "$WORK/mkimage.out")
CONTENT_MIB=$(awk '/ total / { print $6 }' "$WORK/mkimage.out")
ENTRIES=$(awk '/ total / { print $8 }' "$WORK/mkimage.out")

# --- the commands -------------------------------------------------------------------
q() { printf '%q' "$1"; }
BROOT=$WORK/berth
PDIR=$WORK/podman
SOCI=$WORK/skopeo-oci

berth_cmd() { printf '%s --root %s pull -q %s' "$(q "$BERTH")" "$(q "$BROOT")" "$(q "$REF")"; }
# podman: everything of its own under $PDIR; image copies' temp files too
# (TMPDIR; podman's default is /var/tmp).
podman_cmd() {
	printf 'TMPDIR=%s podman --root %s --runroot %s --tmpdir %s --storage-driver %s --events-backend none pull -q --signature-policy %s --authfile %s --tls-verify=false %s' \
		"$(q "$PDIR/tmp")" "$(q "$PDIR/root")" "$(q "$PDIR/run")" "$(q "$PDIR/libpod")" "$1" "$(q "$WORK/policy.json")" "$(q "$AUTH")" "$(q "$REF")"
}
skopeo_cmd() {
	printf 'skopeo --policy %s copy -q --src-authfile %s --src-tls-verify=false %s %s' \
		"$(q "$WORK/policy.json")" "$(q "$AUTH")" "$(q "docker://$REF")" "$(q "oci:$SOCI:latest")"
}

# reset.sh TOOL: give TOOL an empty store (and an empty c/image cache),
# then sync, so that the run starts from nothing and pays for no earlier
# run's writeback. The previous store is renamed into $WORK/old, not
# deleted: on ext4 without a journal (this kind of VM) inode allocation
# skips inodes freed in the last minutes one by one (ext4's
# recently_deleted()), so creating files right after deleting thousands
# costs far more than usual: deleting the stores between runs made berth's
# and podman's runs about 1 s slower each. Everything goes at the end.
cat >"$WORK/reset.sh" <<EOF
#!/bin/sh
set -e
old=$(q "$WORK/old")/\$1.\$(date +%s%N)
mkdir -p "\$old"
case \$1 in
berth)  [ ! -e $(q "$BROOT") ] || mv $(q "$BROOT") "\$old/" ;;
podman)
	for m in \$(findmnt -rn -o TARGET | grep -F -- $(q "$PDIR/") | sort -r); do umount "\$m" || umount -l "\$m"; done
	[ ! -e $(q "$PDIR") ] || mv $(q "$PDIR") "\$old/"
	mkdir -p $(q "$PDIR/tmp") ;;
skopeo) [ ! -e $(q "$SOCI") ] || mv $(q "$SOCI") "\$old/" ;;
esac
# the cache's real directory: a rename out of the bind mount would be EXDEV
find $(q "$WORK/c-image-cache") -mindepth 1 -maxdepth 1 -exec mv -t "\$old" {} +
sync
EOF
chmod +x "$WORK/reset.sh"

# --- probes: each tool must work (and say why not in its own words) --------------
probe() {
	local tool=$1 cmd=$2 out
	"$WORK/reset.sh" "$tool"
	out=$(sh -c "$cmd" 2>&1) || { PROBE_ERR=$out; return 1; }
}
PROBE_ERR=
probe berth "$(berth_cmd)" || die "berth pull failed: $PROBE_ERR"
got=$("$BERTH" --root "$BROOT" images -q)
[[ -n $got ]] || die "berth pull left no image"

DRIVER=overlay
DRIVER_NOTE="overlay (native, $(findmnt -no FSTYPE -T "$WORK") underneath)"
if ! probe podman "$(podman_cmd overlay)"; then
	say "podman with --storage-driver overlay fails here: $PROBE_ERR"
	DRIVER=vfs
	DRIVER_NOTE="vfs (overlay failed here, see above): podman copies nothing less, but vfs is not what podman uses normally"
	sed -i 's/^driver = .*/driver = "vfs"/' "$WORK/storage.conf"
	probe podman "$(podman_cmd vfs)" || die "podman pull fails with vfs too: $PROBE_ERR"
fi
probe skopeo "$(skopeo_cmd)" || die "skopeo copy failed: $PROBE_ERR"

# --- timing ---------------------------------------------------------------------
# The runs of the three tools are interleaved, round by round, in an order
# that rotates: on a shared or busy machine, load that comes and goes then
# falls on all three alike, not on whichever block of runs it happens to hit.
# bash's `time` gives wall, user and system time of each run (ms).
TOOLS=(berth podman skopeo)
declare -A CMD=([berth]="$(berth_cmd)" [podman]="$(podman_cmd "$DRIVER")" [skopeo]="$(skopeo_cmd)")
TIMES=$WORK/times.tsv   # tool round wall user sys (seconds)
: >"$TIMES"
run_timed() {
	local tool=$1 round=$2 t
	"$WORK/reset.sh" "$tool"
	TIMEFORMAT='%3R %3U %3S'
	if ! t=$( { time sh -c "${CMD[$tool]}" >/dev/null 2>"$WORK/err"; } 2>&1); then
		die "$tool failed in round $round: $(cat "$WORK/err")"
	fi
	((round > 0)) && printf '%s\t%s\t%s\n' "$tool" "$round" "${t// /$'\t'}" >>"$TIMES"
	printf ' %s %.2fs' "$tool" "${t%% *}"
}
say ""
say "timing: $WARMUP warm-up + $RUNS rounds of berth, podman and skopeo, interleaved;"
say "every run into an empty store, after a sync"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_BEFORE%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	warn "load average ${LOAD_BEFORE%% *} on $(nproc) CPUs: other work is running, expect noisy wall times"
fi
for ((r = 1 - WARMUP; r <= RUNS; r++)); do
	if ((r > 0)); then printf '  round %d:' "$r"; else printf '  warm-up:'; fi
	for ((i = 0; i < 3; i++)); do
		run_timed "${TOOLS[(i + r + 3) % 3]}" "$r"
	done
	printf '\n'
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# colstats TOOL FIELD: mean, sample stddev, median and min of a column, in ms
colstats() {
	awk -v t="$1" -v f="$2" -F'\t' '$1 == t { v[n++] = $f * 1000 }
		END {
			for (i = 0; i < n; i++) { s += v[i] }
			m = s / n
			for (i = 0; i < n; i++) { d += (v[i] - m) ^ 2 }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
			med = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
			sd = n > 1 ? sqrt(d / (n - 1)) : 0
			printf "%.1f %.1f %.1f %.1f\n", m, sd, med, v[0]
		}' "$TIMES"
}
declare -A MEAN SD MED MIN USR SYS
for t in "${TOOLS[@]}"; do
	read -r "MEAN[$t]" "SD[$t]" "MED[$t]" "MIN[$t]" < <(colstats "$t" 3)
	read -r "USR[$t]" _ < <(colstats "$t" 4)
	read -r "SYS[$t]" _ < <(colstats "$t" 5)
	[[ -n ${MEAN[$t]} ]] || die "no times for $t in $TIMES"
done
if [[ -n ${BENCH_JSON:-} ]]; then
	jq -R -s --arg ref "$REF" --arg manifest "$MANIFEST" '
		[split("\n")[] | select(length > 0) | split("\t")
		 | {tool: .[0], round: (.[1] | tonumber), wall: (.[2] | tonumber), user: (.[3] | tonumber), sys: (.[4] | tonumber)}]
		| {ref: $ref, manifest: $manifest, unit: "s", runs: .}' "$TIMES" >"$BENCH_JSON"
fi

# what the last run of each left on disk
du_mib() { du -sm --apparent-size "$1" 2>/dev/null | cut -f1; }
B_DISK=$(du_mib "$BROOT")
P_DISK=$(du_mib "$PDIR/root")
S_DISK=$(du_mib "$SOCI")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

say ""
say "pull of $REF"
say "($BLOB_MIB MiB of gzip blobs, $CONTENT_MIB MiB unpacked, $ENTRIES tar entries, 7 layers; manifest ${MANIFEST:0:19}...)"
say "wall time of $RUNS runs each, every one into an empty store:"
say "            mean ± stddev      median      min    (cpu: user + sys, mean)"
for t in "${TOOLS[@]}"; do
	printf '  %-7s %6.0f ± %4.0f ms  %6.0f ms  %6.0f ms   (%4.0f + %4.0f ms)\n' "$t" "${MEAN[$t]}" "${SD[$t]}" "${MED[$t]}" "${MIN[$t]}" "${USR[$t]}" "${SYS[$t]}"
done
say ""
R=$(ratio "${MEAN[berth]}" "${MEAN[podman]}")
printf '  berth/podman = %s of the mean (%s of the median)   goal <= 0.50: %s\n' "$R" \
	"$(ratio "${MED[berth]}" "${MED[podman]}")" "$(awk -v r="$R" 'BEGIN { print (r <= 0.5) ? "met" : "NOT met" }')"
printf '  berth/skopeo = %s of the mean (%s of the median)\n' "$(ratio "${MEAN[berth]}" "${MEAN[skopeo]}")" "$(ratio "${MED[berth]}" "${MED[skopeo]}")"
printf '  cpu time (user + sys): berth/podman = %s, berth/skopeo = %s (steadier than wall time on a busy machine)\n' \
	"$(ratio "$(awk -v a="${USR[berth]}" -v b="${SYS[berth]}" 'BEGIN { print a + b }')" "$(awk -v a="${USR[podman]}" -v b="${SYS[podman]}" 'BEGIN { print a + b }')")" \
	"$(ratio "$(awk -v a="${USR[berth]}" -v b="${SYS[berth]}" 'BEGIN { print a + b }')" "$(awk -v a="${USR[skopeo]}" -v b="${SYS[skopeo]}" 'BEGIN { print a + b }')")"
say ""
say "  podman storage driver: $DRIVER_NOTE"
say "  skopeo copy to an OCI directory downloads and verifies the blobs but does NOT unpack"
say "  the layers, while berth and podman both do: it is a floor for the download, not a peer."
say "  on disk after a run: berth ${B_DISK} MiB (blobs + unpacked layers), podman ${P_DISK} MiB"
say "  (unpacked layers + metadata), skopeo ${S_DISK} MiB (blobs)."
FSDEV=$(basename "$(findmnt -no SOURCE -T "$WORK")")
if [[ $(findmnt -no FSTYPE -T "$WORK") == ext4 && $(cat "/sys/fs/ext4/$FSDEV/journal_task" 2>/dev/null) == "<none>" ]]; then
	say "  $WORK is on ext4 without a journal: inode allocation skips recently deleted inodes one"
	say "  by one, so stores are renamed away between runs, not deleted (see reset.sh in the script)."
fi
say "  load average before and after: $LOAD_BEFORE / $LOAD_AFTER on $(nproc) CPUs (other work on the machine adds noise)"
say "  versions: $BERTH (built $(date -u -r "$BERTH" '+%F %T UTC'); checkout $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')),"
say "            $(podman --version), $(skopeo --version), docker-registry $(/usr/bin/docker-registry --version 2>/dev/null | awk '{print $NF}')"
say ""
