# proto regenerates the committed Go code for api/**/*.proto with pinned
# tools (see hack/proto/gen.sh). Included from the top-level Makefile.
.PHONY: proto
proto:
	hack/proto/gen.sh
