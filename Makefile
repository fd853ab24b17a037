# berth: `make demo` runs the main job, `make test` passes the tests. Both
# install what they need on a fresh Debian 12 machine (as root).

MODULE := github.com/berthproject/berth
LEAVES := spec runtime network image volume
BIN    := bin/berth
GO     ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build test test-unit test-interop demo example-nginx bench lint deps setup clean

all: build

# berth-init is the containers' PID 1; berth looks for it beside itself.
# berth-registry is berth with the registry client (-tags registry): berth
# hands pull and push to it, so no other command pays for net/http and TLS.
# Both are static: nothing to load at start-up, and the init runs in
# containers whose root filesystems have no libc of ours.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/berth
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/berth-init ./cmd/berth-init
	CGO_ENABLED=0 $(GO) build -trimpath -tags registry -o bin/berth-registry ./cmd/berth

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

test: setup lint deps
	$(GO) test -race -count=1 -timeout 15m -tags registry ./...
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 10s ./spec/

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
# restart after kill -9, memory per container (bench/stack.sh). They
# install their peers from Debian.
bench: setup build
	@./bench/runtime.sh
	@./bench/pull.sh
	@./bench/net.sh
	@./bench/build.sh
	@./bench/stack.sh

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
