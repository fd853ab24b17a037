#!/usr/bin/env bash
# bench/watch.sh: berth watch on examples/hello (compose.yaml's develop.watch
# rules), from an edit to the new content served over HTTP:
#
#   a. sync: web/static/bench.txt written (the save) to every web replica
#      serving the new content at /static/bench.txt      goal < 300 ms
#   b. rebuild: a new web/web (the Go binary with a changed string) renamed
#      into place to every web replica serving the changed page; the image
#      is rebuilt and the three replicas replaced one at a time (rolling, as
#      update_config's defaults say: parallelism 1, stop-first)  goal < 2 s
#   c. reload: compose.yaml's counter environment changed (COUNTER_START) to
#      the page showing a visit number counted from the new start; only the
#      counter may be recreated, which is checked too     goal < 1 s
#
# No peer: Docker Compose's watch needs the Docker engine, which is not
# installed on this machine and cannot be, and Debian's podman-compose
# (1.0.3) has no watch command. The figures are berth's alone, against the
# goals; nothing stands in for a peer.
#
# How: examples/hello is copied to a temp dir and its binaries built there
# (examples/hello/build.sh DIR); `berth watch` runs in the background (it
# brings the stack up, then follows the rules), its output stamped line by
# line into a log. Each round does a, b and c, one after the other, each
# waiting for the watch to report its action done (and, after c, for the
# watch to follow the reloaded file) before the next; round 0 is a warm-up,
# untimed; medians of ROUNDS rounds. A change starts the clock as it lands:
# a: just before the file is written in place; b: just before the rename
# of the new binary over web/web (the bench's `go build`, which a user
# would run, is outside the figure: the binary is built beforehand with
# `go build -overlay`, the page's "Hello from" changed to "Hello (round N)
# from" in a copy of web/main.go); c: just before `sed -i` writes the
# file. One curl per published port (8080-8082: web-1..3) asks every
# 5 ms (--rate 200/s, a new connection each time), started before the
# change; a figure is when the last replica was seen serving it, with the
# first one beside it, and the mean time between a poller's requests (the
# poll cycle; slower when answers are, as web's are while its counter is
# away). "reported" is when the watch's own line about the action
# ("web: synced 1 file into 3 replicas") reached its log. For c, the new
# counter's start and first passed health check (berth inspect) are
# printed too: web finds it by name only once it is healthy.
#
# Everything berth does runs in a network namespace of the bench's own (ip
# netns; the script re-executes itself there with nsenter), with a
# temporary --root, so berth's engine, bridge, nftables rules and DNS
# helper never meet the host's. Run as root (make bench). Environment:
#   BERTH=path   berth binary (default bin/berth of this checkout, made by
#                make build when missing; berth-init and berth-registry beside it)
#   ROUNDS=5     timed rounds
#   KEEP=1       keep the temp dir (berth's root with engine.log, the watch's log)
#
# The EXIT traps stop the watch and any poller left by a failed round
# (the pids this script started), take the stack down, end berth's engine
# and DNS helper by the pid they noted once their command line shows this
# bench's root, delete the namespace and the temp dir.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
shopt -s inherit_errexit # a die in $(...) ends the bench, not just the substitution

ROUNDS=${ROUNDS:-5}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$REPO/bench/watch.sh
PEER="none: Docker Compose's watch needs the Docker engine (not installed here, and it cannot be); podman-compose 1.0.3 has no watch"

need_root "containers, namespaces and cgroups need it"

# --- outside the namespace: packages, binaries, the namespace, the temp dir ----
if [[ -z ${BERTH_BENCH_WATCH_NS:-} ]]; then
	pkgs=()
	command -v ip >/dev/null || pkgs+=(iproute2)
	command -v nsenter >/dev/null || pkgs+=(util-linux)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v timeout >/dev/null || pkgs+=(coreutils)
	if ((${#pkgs[@]})); then
		say "installing from Debian: ${pkgs[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
	fi
	command -v go >/dev/null || die "Go is needed to build the example's binaries (Go >= 1.26.8 in /usr/local/go; see make setup)"
	if [[ -z ${BERTH:-} && (! -x $REPO/bin/berth || ! -x $REPO/bin/berth-registry || ! -x $REPO/bin/berth-init) ]]; then
		say "bin/berth, bin/berth-registry or bin/berth-init missing: make build"
		make -C "$REPO" build >/dev/null
	fi
	BERTH=$(readlink -f -- "${BERTH:-$REPO/bin/berth}")
	[[ -x $BERTH ]] || die "berth binary not found at '$BERTH' (make build, or set BERTH=/path/to/berth)"
	"$BERTH" watch --help >/dev/null 2>&1 || die "'$BERTH watch' is missing: this berth has no watch to time"

	NS=berth-bench-watch-$$
	WORK=$(mktemp -d /tmp/berth-bench-watch.XXXXXX)
	outer_cleanup() {
		local rc=$? f
		set +e
		ip netns del "$NS" 2>/dev/null
		# Namespace files of containers a crash left bound.
		for f in "$WORK"/berth/run/netns/*; do [[ -e $f ]] && umount -l "$f" 2>/dev/null; done
		remove_work "$WORK"
		exit "$rc"
	}
	trap outer_cleanup EXIT
	trap : INT TERM # outlive an interrupted child long enough to tidy up
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	rc=0
	BERTH=$BERTH WORK=$WORK BERTH_BENCH_WATCH_NS=$NS nsenter --net="/run/netns/$NS" -- "$SELF" "$@" || rc=$?
	exit "$rc"
fi

# ==== from here on: in the bench's network namespace ===========================

BROOT=$WORK/berth
HELLO=$WORK/hello
LOG=$WORK/watch.log
B() { "$BERTH" --root "$BROOT" "$@"; }

WATCH_PID=
cleanup() {
	local rc=$? pid
	set +e
	trap - EXIT INT TERM
	if [[ -n $WATCH_PID ]]; then
		kill -INT "$WATCH_PID" 2>/dev/null
		wait "$WATCH_PID" 2>/dev/null
	fi
	# Pollers of a round that failed: timeout (running curl), by its pid.
	for pid in $(cat "$WORK/pollers" 2>/dev/null); do
		grep -qaF 'poll=[' "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null
	done
	[[ -f $HELLO/compose.yaml ]] && B down -t 1 -f "$HELLO/compose.yaml" >/dev/null 2>&1
	stop_berth_helpers "$BROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A sleep without a process: read times out on a pipe nobody writes to.
exec {NAP}<> <(:)
nap() { read -r -t "$1" -u "$NAP" || true; }
now() { printf '%s' "${EPOCHREALTIME/./}"; } # microseconds, no fork
ms() { echo $((($2 - $1) / 1000)); }
fetch() { curl -s -m 2 "$1" || true; }
PORTS=(8080 8081 8082)

say "berth: $BERTH"
say "host: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "peer: $PEER"
say ""

# --- the example, and the watch ---------------------------------------------------
"$REPO/examples/hello/build.sh" "$HELLO"
(
	cd "$HELLO"
	exec "$BERTH" --root "$BROOT" watch
) > >(while IFS= read -r l; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"; done >"$LOG") 2>&1 &
WATCH_PID=$!

# count PATTERN: the watch's log lines that match (fixed string)
count() { grep -cF -- "$1" "$LOG" || true; }
# await PATTERN BEFORE SECS: wait until more than BEFORE lines match;
# prints the newest one's stamp
await() {
	local deadline=$(($(now) + $3 * 1000000))
	while (($(count "$1") <= $2)); do
		kill -0 "$WATCH_PID" 2>/dev/null || die "berth watch ended: $(tail -n 20 "$LOG")"
		(($(now) < deadline)) || die "no '$1' from berth watch within $3 s: $(tail -n 20 "$LOG")"
		nap 0.02
	done
	grep -F -- "$1" "$LOG" | tail -n 1 | cut -d' ' -f1
}
await "watching " 0 120 >/dev/null
for p in "${PORTS[@]}"; do
	for ((i = 0; ; i++)); do
		[[ $(fetch "http://127.0.0.1:$p/") == "Hello from"* ]] && break
		((i < 600)) || die "web on port $p does not answer 30 s after the watch began: $(tail -n 20 "$LOG")"
		nap 0.05
	done
done

# poll_start PATH WANT SECS: one curl per port asks for PATH every 5 ms
# (--rate 200/s; a new connection each time, so no request waits on a
# replica that is going), for at most SECS, its answers read line by line
# as they come (-N); a poller stops at the first line matching WANT (a
# bash pattern) and notes when. It returns once every poller has had an
# answer: the change comes after they all run.
poll_start() {
	local path=$1 want=$2 secs=$3 p i
	POLL=$(mktemp -d "$WORK/poll.XXXXXX")
	POLLERS=()
	for p in "${PORTS[@]}"; do
		(
			# curl goes on after its reader has gone (a failed write fails
			# one transfer, not the run): the reader ends it, through the
			# timeout that runs it ($! of the process substitution).
			exec {answers}< <(exec timeout "$secs" curl -sN --rate 200/s -m 1 -H 'Connection: close' -w '\n@\n' \
				"http://127.0.0.1:$p$path?poll=[1-$((secs * 200))]" 2>/dev/null)
			curl_pid=$!
			echo "$curl_pid" >>"$WORK/pollers" # for the EXIT trap, should a round fail
			n=0
			while IFS= read -r -u "$answers" line; do
				# shellcheck disable=SC2254 # WANT is a pattern
				case $line in
				@) # the end of an answer
					n=$((n + 1))
					((n > 1)) || printf '%s\n' "${EPOCHREALTIME/./}" >"$POLL/$p.ready"
					;;
				$want)
					printf '%s %s\n' "${EPOCHREALTIME/./}" "$n" >"$POLL/$p"
					break
					;;
				esac
			done
			kill "$curl_pid" 2>/dev/null || true
			[[ -e $POLL/$p.ready ]] || : >"$POLL/$p.ready" # curl gave up: wait no more
		) &
		POLLERS+=($!)
	done
	for p in "${PORTS[@]}"; do
		for ((i = 0; ; i++)); do
			[[ -s $POLL/$p.ready ]] && break
			((i < 1000)) || die "no answer on port $p within 10 s: $(tail -n 20 "$LOG")"
			nap 0.01
		done
	done
}

# poll_result T0 WHAT: waits for the pollers; sets LAST and FIRST, when
# the last and the first port served the change (ms since T0), and CYCLE,
# the mean time between a poller's requests (ms)
poll_result() {
	local t0=$1 p t n ready span=0 polls=0
	wait "${POLLERS[@]}" || true
	LAST=0 FIRST=
	for p in "${PORTS[@]}"; do
		[[ -s $POLL/$p ]] || die "port $p did not serve $2 in time: $(tail -n 20 "$LOG")"
		read -r t n <"$POLL/$p"
		read -r ready <"$POLL/$p.ready"
		span=$((span + t - ready)) polls=$((polls + n - 1))
		t=$(ms "$t0" "$t")
		((t > LAST)) && LAST=$t
		[[ -n $FIRST ]] && ((FIRST <= t)) || FIRST=$t
	done
	CYCLE=$(awk -v s="$span" -v n="$polls" 'BEGIN { if (n > 0) printf "%.1f", s / n / 1000; else print "n/a" }')
}

TIMES=$WORK/times.tsv # case what ms
: >"$TIMES"

# a: write the file in place, as an editor that saves in place does
sync_round() {
	local r=$1 want t0 before rep
	want="round $r $RANDOM$RANDOM"
	before=$(count "web: synced")
	poll_start /static/bench.txt "$want" 10
	t0=$(now)
	printf '%s\n' "$want" >"$HELLO/web/static/bench.txt"
	poll_result "$t0" "the new web/static/bench.txt"
	rep=$(await "web: synced" "$before" 10)
	printf '%s %s %s %s' "$LAST" "$FIRST" "$CYCLE" "$(ms "$t0" "$rep")"
}

# b: the page's string changed, the binary built aside, then renamed over
# web/web (the moment it lands)
OVERLAY=$WORK/overlay
mkdir -p "$OVERLAY"
rebuild_round() {
	local r=$1 t0 before rep
	sed "s/\"Hello from %s/\"Hello (round $r) from %s/" "$REPO/examples/hello/web/main.go" >"$OVERLAY/main.go"
	grep -q "Hello (round $r) from" "$OVERLAY/main.go" || die "examples/hello/web/main.go no longer writes \"Hello from %s\": adjust rebuild_round"
	printf '{"Replace":{"%s":"%s"}}\n' "$REPO/examples/hello/web/main.go" "$OVERLAY/main.go" >"$OVERLAY/overlay.json"
	(cd "$REPO/examples/hello" && CGO_ENABLED=0 go build -overlay "$OVERLAY/overlay.json" -trimpath -ldflags='-s -w' -o "$HELLO/web/.web.new" ./web)
	before=$(count "web: rebuilt")
	poll_start / "Hello (round $r) from *" 60
	t0=$(now)
	mv "$HELLO/web/.web.new" "$HELLO/web/web"
	poll_result "$t0" "the rebuilt page"
	rep=$(await "web: rebuilt" "$before" 60)
	# Where the time went: when the image was made, and when each new
	# replica started.
	local built starts="" n at
	built=$(date -d "$(B image inspect -f '{{.Created}}' hello-web)" +%s%6N)
	for n in 1 2 3; do
		at=$(date -d "$(B inspect -f '{{.State.StartedAt}}' "hello-web-$n")" +%s%6N)
		starts+="$(ms "$t0" "$at"),"
	done
	printf '%s %s %s %s %s %s' "$LAST" "$FIRST" "$CYCLE" "$(ms "$t0" "$rep")" "$(ms "$t0" "$built")" "${starts%,}"
}

# c: COUNTER_START changed by sed -i (a new file renamed over, as many
# editors save); the page counts on from the new start
web_ids() { B inspect -f '{{.Id}}' hello-web-1 hello-web-2 hello-web-3 | tr '\n' ' '; }
reload_round() {
	local r=$1 start=$((($1 + 1) * 100000)) t0 before watching rep webs counter
	local -a PORTS=(8080) # one port is enough: every replica asks the one counter
	webs=$(web_ids)
	counter=$(B inspect -f '{{.Id}}' hello-counter-1)
	before=$(count "stack file reloaded")
	watching=$(count "watching ")
	# A visit number counted from the new start: the old counter's are
	# below it, and the next start is 100000 further.
	poll_start / "Hello * visit number $((start / 100000))[0-9][0-9][0-9][0-9][0-9]" 30
	t0=$(now)
	sed -i "s/COUNTER_START: \"[0-9]*\"/COUNTER_START: \"$start\"/" "$HELLO/compose.yaml"
	poll_result "$t0" "a visit number from $start"
	rep=$(await "stack file reloaded" "$before" 30)
	await "watching " "$watching" 30 >/dev/null # following the new file: ready for the next change
	[[ $(web_ids) == "$webs" ]] || die "the reload recreated web replicas too: $(tail -n 20 "$LOG")"
	[[ $(B inspect -f '{{.Id}}' hello-counter-1) != "$counter" ]] || die "the reload did not recreate the counter: $(tail -n 20 "$LOG")"
	# Where the time went: when the new counter started, and when its
	# health check first passed (web finds it by name only then), after
	# how many failed checks.
	local info started healthy codes fails=0 c
	info=$(B inspect -f '{{.State.StartedAt}} {{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End.Format "2006-01-02T15:04:05.000000000Z07:00"}} {{end}}{{end}}' hello-counter-1)
	read -r started healthy _ <<<"$info"
	codes=$(B inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{end}}' hello-counter-1)
	for c in $codes; do
		[[ $c == 0 ]] && break
		fails=$((fails + 1))
	done
	started=$(date -d "$started" +%s%6N)
	healthy=$(date -d "${healthy:?the new counter has passed no health check}" +%s%6N)
	printf '%s %s %s %s %s %s %s' "$LAST" "$FIRST" "$CYCLE" "$(ms "$t0" "$rep")" "$(ms "$t0" "$started")" "$(ms "$t0" "$healthy")" "$fails"
}

say "ms from the change to: all replicas serving it (the first one; poll cycle), the watch's report"
for ((r = 0; r <= ROUNDS; r++)); do
	((r > 0)) && printf '  round %s:' "$r" || printf '  warm-up:'
	out=$(sync_round "$r")
	read -r last first cycle rep <<<"$out"
	((r > 0)) && record sync served "$last" && record sync first "$first" && record sync reported "$rep"
	printf '  sync %s (%s; %s) %s' "$last" "$first" "$cycle" "$rep"
	out=$(rebuild_round "$r")
	read -r last first cycle rep built starts <<<"$out"
	if ((r > 0)); then
		record rebuild served "$last"
		record rebuild first "$first"
		record rebuild reported "$rep"
		record rebuild built "$built"
		record rebuild started "$(tr , '\n' <<<"$starts" | sort -g | tail -n 1)"
	fi
	printf '  rebuild %s (%s; %s) %s [built %s, started %s]' "$last" "$first" "$cycle" "$rep" "$built" "$starts"
	out=$(reload_round "$r")
	read -r last first cycle rep started healthy fails <<<"$out"
	if ((r > 0)); then
		record reload served "$last"
		record reload reported "$rep"
		record reload started "$started"
		record reload healthy "$healthy"
		record reload dns $((last - healthy))
		((fails == 0)) || record reload late-check 1
	fi
	printf '  reload %s (%s) %s [counter started %s, healthy %s]\n' "$last" "$cycle" "$rep" "$started" "$healthy"
done

# --- the report ----------------------------------------------------------------------
MET=1
# goal CASE LABEL GOAL_MS WHAT: one line of the report
goal() {
	local m v
	m=$(median "$1" served)
	if ((m < $3)); then v=met; else v="NOT met"; MET=; fi
	printf '  %-8s %6s ms   goal < %5s ms: %-8s %s\n' "$1" "$m" "$3" "$v" "$4"
}
say ""
say "medians of $ROUNDS rounds (peer: none, see above)"
goal sync sync 300 "(first replica $(median sync first) ms, watch reported $(median sync reported) ms)"
goal rebuild rebuild 2000 "(first replica $(median rebuild first) ms, watch reported $(median rebuild reported) ms)"
say "           the image was built at $(median rebuild built) ms, the last new replica started at $(median rebuild started) ms"
goal reload reload 1000 "(watch reported $(median reload reported) ms; web replicas untouched)"
say "           the new counter started at $(median reload started) ms, passed its first health check at $(median reload healthy) ms;"
say "           web found it by name $(median reload dns) ms after that"
late=$(all reload late-check | wc -w)
if ((late > 0)); then
	say "  note: in $late of $ROUNDS rounds the counter's first health check, run as it starts, came before it listened;"
	say "        the next one runs a second later (runtime/health.go: 1 s until the first success)"
fi
if (($(median reload dns) > 500)); then
	say "  note: berth's DNS answers for a health-checked replica once it is healthy, and its helper keeps a"
	say "        container's answer (alive or not) for 1 s (network/records.go, isAlive): web's lookups while the"
	say "        counter was starting cached \"not alive\", so the name resolved up to a second after it was healthy"
fi
say ""
for c in sync rebuild reload; do
	say "  $c, every round (ms): $(all "$c" served)"
done
say ""
if [[ -n $MET ]]; then
	say "all goals met"
else
	say "some goals NOT met (above): the engine's log is $BROOT/engine.log and the watch's $LOG (KEEP=1 keeps them)"
fi
