# demo/hello.sh: the stack part of the demo, sourced by demo/run.sh (which
# gives it b, $BERTH, $root and $work, in the demo's own network namespace).
# examples/hello: a web front end in three replicas and the counter it
# calls by name, both FROM scratch images with a static Go binary, brought
# up by berth's engine; then one replica's process is killed with -9 and
# the engine replaces it.

# fetch URL: the page, or nothing (and status 1) when it does not answer.
# (Debian's static busybox wget crashes with -T: timeout bounds it instead.)
fetch() { timeout 5 /bin/busybox wget -q -O- "$1" 2>/dev/null; }

echo; echo "== a stack: examples/hello, three web replicas and a counter, found by name"
repo=$(cd "$(dirname "$0")/.." && pwd)
echo "\$ examples/hello/build.sh      # two static Go binaries, into a copy of the example"
"$repo/examples/hello/build.sh" "$work/hello"
cd "$work/hello"
export BERTH_ENGINE_IDLE=2s # the engine leaves once down has taken its last stack
b up -d --wait  # builds the images (FROM scratch), starts counter, then web once counter is healthy
ports="8080 8081 8082"
for p in $ports; do
	for _ in $(seq 100); do fetch "http://127.0.0.1:$p/healthz" >/dev/null && break; sleep 0.05; done
done
echo "up: http://127.0.0.1:8080/ (hello-web-1), http://127.0.0.1:8081/ (hello-web-2), http://127.0.0.1:8082/ (hello-web-3)"
for p in 8080 8081 8082 8080; do
	echo "\$ wget -q -O- http://127.0.0.1:$p/"
	fetch "http://127.0.0.1:$p/" || echo "(no answer on port $p)"
done
b ps
if "$BERTH" --root "$root" compose ps --help >/dev/null 2>&1; then
	b compose ps
fi
b logs --tail 3 hello-counter-1

echo; echo "== kill -9 of hello-web-2's process: the engine replaces it (restart: always)"
old=$("$BERTH" --root "$root" inspect -f '{{.Id}}' hello-web-2)
init=$("$BERTH" --root "$root" inspect -f '{{.State.Pid}}' hello-web-2)
# "PID " with no newline: read would fail at its end, cut does not
workload=$(cut -d' ' -f1 "/proc/$init/task/$init/children")
echo "\$ kill -9 $workload      # /web, the child of hello-web-2's init (pid $init)"
t0=$(date +%s%N)
kill -9 "$workload"
new=
for _ in $(seq 500); do
	if out=$("$BERTH" --root "$root" inspect -f '{{.Id}} {{.State.Running}}' hello-web-2 2>/dev/null) &&
		[ "${out% *}" != "$old" ] && [ "${out#* }" = true ]; then
		new=${out% *}
		break
	fi
	sleep 0.01
done
if [ -n "$new" ]; then
	echo "replaced in $((($(date +%s%N) - t0) / 1000000)) ms: hello-web-2 is now ${new:0:12} (was ${old:0:12}; Docker's back-off waits 100 ms for a container that ran under 10 s)"
else
	echo "hello-web-2 was not replaced within 5 s"
fi
b inspect -f 'restart count {{index .Config.Labels "io.berth.restart-count"}}' hello-web-2
for _ in $(seq 100); do fetch http://127.0.0.1:8081/healthz >/dev/null && break; sleep 0.05; done
echo "\$ wget -q -O- http://127.0.0.1:8081/      # the new replica, the same count"
fetch http://127.0.0.1:8081/ || echo "(no answer on port 8081)"
b ps

echo
b down
cd - >/dev/null
