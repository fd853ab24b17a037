#!/usr/bin/env bash
# build.sh [DIR]: builds the two static binaries of the hello example into
# their build contexts (web/web, counter/counter), ready for berth up.
# With DIR, the example is first copied to DIR and built there, leaving
# this checkout untouched (make demo and the tests do that).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here}
if [ "$out" != "$here" ]; then
	mkdir -p "$out"
	cp -r "$here/." "$out/"
	out=$(cd "$out" && pwd)
fi
export PATH="$PATH:/usr/local/go/bin"
for svc in web counter; do
	# From the example's own directory: the programs are packages of the
	# berth module, whose go.mod is two levels up.
	(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$svc/$svc" "./$svc")
done
