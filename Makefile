# meshlite: `make demo` runs the seed scenario, `make test` runs every test.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/meshlite/meshlite/internal/telemetry.Version=$(VERSION)
# Release builds: static, and gRPC without its x/net/trace debug pages
# (which we never serve; leaving them out makes the binary 3 MB smaller and
# the ambassador's resident memory about as much lower).
RELEASE := CGO_ENABLED=0 $(GO) build -trimpath -tags grpcnotrace

.PHONY: all build demo test test-deps vet fuzz bench bench-quick soak soak-short clean

all: build

build:
	$(RELEASE) -ldflags '$(LDFLAGS)' -o $(BIN)/ambassador ./cmd/ambassador
	$(RELEASE) -ldflags '$(LDFLAGS)' -o $(BIN)/controlplane ./cmd/controlplane
	$(GO) build -trimpath -o $(BIN)/demo ./cmd/demo

## demo: build, then run the seed scenario on loopback (about ten seconds).
demo: build
	$(BIN)/demo --ambassador $(BIN)/ambassador

## test: install what the tests need, then vet and run every test with -race,
## a 15-second run of the gate's differential fuzz target, then the
## 60-second soak.
test: test-deps vet
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -fuzz '^FuzzGateAgainstNetHTTP$$' -fuzztime 15s ./internal/ambassador/gate
	$(MAKE) soak-short

## soak: the ambassador binary under steady load with table swaps for
## SOAK_DURATION (default 10m); fails if goroutines, heap or RSS grow. The
## test bounds itself (5 min for the build, SOAK_DURATION + 5 min for the run).
SOAK_DURATION ?= 10m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -v -timeout 0 -run '^TestSoak$$' ./internal/soak

soak-short:
	$(MAKE) soak SOAK_DURATION=60s

test-deps:
	bash scripts/test-deps.sh

vet:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

## fuzz: a short run of every fuzz target.
fuzz:
	bash scripts/fuzz.sh 20s

bench:
	$(MAKE) -C bench bench

bench-quick:
	$(MAKE) -C bench bench-quick

clean:
	rm -rf $(BIN)

-include make/*.mk
