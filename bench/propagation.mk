# Propagation benchmark: N simulated ambassadors on one control plane; time
# from a route-table edit to the last ACK, plus the control plane's CPU and
# memory. Included by the Makefile; on its own: make -C bench -f propagation.mk
# propagation. The control plane binary is built from the repository root.

GO      ?= go
OUT     ?= results
CP_BIN  := bin/controlplane
PROP    := bin/propagation

.PHONY: propagation propagation-quick propagation-build

propagation-build:
	$(GO) -C .. build -o bench/$(CP_BIN) ./cmd/controlplane
	$(GO) build -o $(PROP) ./cmd/propagation

# N = 1,000 and 10,000, 5 measured edits per scenario (a few minutes).
propagation: propagation-build
	$(PROP) -controlplane $(CP_BIN) -n 1000,10000 -rounds 5 -out $(OUT) -name propagation -command "make -C bench propagation"

# N = 1,000 only, 3 measured edits per scenario (under a minute).
propagation-quick: propagation-build
	$(PROP) -controlplane $(CP_BIN) -n 1000 -rounds 3 -out $(OUT) -name propagation-quick -command "make -C bench propagation-quick"
