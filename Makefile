# berth: `make demo` runs the main job, `make test` passes the tests. Both
# install what they need on a fresh Debian 12 machine (as root).

MODULE := github.com/berthproject/berth
LEAVES := spec runtime network image volume
BIN    := bin/berth
GO     ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build shim test test-unit test-interop demo example-nginx bench lint deps setup clean

all: build

# berth-init is the containers' PID 1 (until it hands over to berth-shim,
# below); berth looks for it beside itself.
# berth-registry is berth with the registry client (-tags registry): berth
# hands pull and push to it, so no other command pays for net/http and TLS.
# Both are static: nothing to load at start-up, and the init runs in
# containers whose root filesystems have no libc of ours.
build: shim
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/berth
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/berth-init ./cmd/berth-init
	CGO_ENABLED=0 $(GO) build -trimpath -tags registry -o bin/berth-registry ./cmd/berth

# berth-shim is the C supervisor a container's init hands over to once the
# workload runs (runtime/containerinit/doc.go, "The shim"): PID 1 of a
# running container then costs a small static C program's memory, not a Go
# runtime's. berth looks for it beside itself and does without it when it
# is missing. Static, for the same reasons as berth-init. The tests build
# it too, with SHIM_OUT set (internal/testutil/shim.go). gcc and libc6-dev
# (for the static libc.a) are installed when missing.
SHIM_OUT    ?= bin/berth-shim
SHIM_CC     ?= gcc
SHIM_CFLAGS := -std=gnu11 -Os -static -Wall -Wextra -Werror -fno-asynchronous-unwind-tables \
	-ffunction-sections -fdata-sections -Wl,--gc-sections -s
shim:
	@command -v $(SHIM_CC) >/dev/null && [ -f "$$($(SHIM_CC) -print-file-name=libc.a)" ] || { \
	  echo "installing gcc libc6-dev"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev >/dev/null || \
	  { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev >/dev/null; }; }
	@mkdir -p $(dir $(SHIM_OUT))
	$(SHIM_CC) $(SHIM_CFLAGS) -o $(SHIM_OUT) cmd/berth-shim/*.c

# setup installs the Debian packages the tests and the demo use when they
# are missing: busybox-static builds the test root filesystems,
# docker-registry is the registry the pull and push tests run on loopback.
DEB_NEEDS := /bin/busybox:busybox-static /usr/bin/docker-registry:docker-registry
setup:
	@command -v $(GO) >/dev/null || { echo "Go is missing: install Go >= 1.26.8 (https://go.dev/dl)"; exit 1; }
	@missing=""; for pair in $(DEB_NEEDS); do \
	  test -x $${pair%%:*} || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null || \
	  { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing >/dev/null; }; \
	fi
	@$(GO) mod download

# The fuzzing budget is a count of inputs, not a duration: a -fuzztime
# deadline that ends while a starved worker is mid-input fails the run
# with "context deadline exceeded" and no crasher (Go's coordinator,
# golang/go#75804, fixed in Go 1.27). 8000 inputs take ~8 s here. A
# new interesting input is minimized for up to a minute unless bounded
# too: 200 tries.
test: setup lint deps
	$(GO) test -race -count=1 -timeout 15m -tags registry ./...
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 8000x -fuzzminimizetime 200x ./spec/

# test-interop moves images between berth and podman both ways (save,
# load, run); it installs podman, runc and skopeo. Not part of CI's test.
test-interop: setup build
	@./test/interop.sh

# demo: a tour of berth run in busybox containers, then examples/hello
# brought up by the engine (its Go binaries built here, so Go is needed),
# a replica killed and replaced, and down; in a namespace of its own.
demo: setup build
	@./demo/run.sh $(BIN)

# example-nginx: the seed's worked example end to end (examples/nginx):
# a Debian base image from debootstrap (cached under
# /var/cache/berth-examples), berth build, berth run -p 8080:80, curl.
# It needs the Debian archive; everything but the cache goes at the end.
example-nginx: setup build
	@./examples/nginx/run.sh

# bench: start+stop and memory against runc, crun and conmon
# (bench/runtime.sh), then pull + unpack against podman and skopeo
# (bench/pull.sh), then networks against the host's loopback: DNS and
# TCP throughput (bench/net.sh), then Dockerfile builds against buildah
# (bench/build.sh), then the engine against podman-compose: up, down,
# restart after kill -9, memory per container (bench/stack.sh), then
# berth watch on examples/hello: sync, rebuild, stack file reload, against
# goals (bench/watch.sh; no peer has a watch here). They install their
# peers from Debian.
bench: setup build
	@./bench/runtime.sh
	@./bench/pull.sh
	@./bench/net.sh
	@./bench/build.sh
	@./bench/stack.sh
	@./bench/watch.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags registry ./...

# deps fails when a leaf package imports another package of ours.
deps:
	@bad=0; for p in $(LEAVES); do \
	  [ -d $$p ] || continue; \
	  for d in $$($(GO) list -deps ./$$p/... | grep '^$(MODULE)/' | grep -v '^$(MODULE)/'$$p); do \
	    echo "$$p must not import $$d"; bad=1; \
	  done; \
	done; exit $$bad

clean:
	rm -rf bin
