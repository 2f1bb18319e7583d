#!/usr/bin/env bash
# gen.sh regenerates the Go code for every api/**/*.proto with pinned tools:
#   protoc         Debian bookworm's protobuf-compiler (libprotoc $PROTOC_VERSION)
#   protoc-gen-go  built from the google.golang.org/protobuf version in go.mod
# Both versions are written into the generated header, so other versions
# would produce a diff; api/generate_test.go checks that the committed code
# matches.
#
# Usage: hack/proto/gen.sh [OUT_DIR]    (default: the repository root)
set -euo pipefail

PROTOC_VERSION="3.21.12"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mkdir -p "${1:-$root}" && cd "${1:-$root}" && pwd)"

if ! command -v protoc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "gen.sh: protoc not found; installing protobuf-compiler" >&2
		apt-get update -qq
		apt-get install -y -qq protobuf-compiler >/dev/null
	else
		echo "gen.sh: protoc not found: install Debian's protobuf-compiler ($PROTOC_VERSION), e.g. apt-get install protobuf-compiler" >&2
		exit 1
	fi
fi

have="$(protoc --version)"
if [ "$have" != "libprotoc $PROTOC_VERSION" ]; then
	echo "gen.sh: protoc reports \"$have\", want \"libprotoc $PROTOC_VERSION\" (Debian bookworm protobuf-compiler): the version is part of the generated code" >&2
	exit 1
fi

tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
(cd "$root" && go build -o "$tools/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)

cd "$root"
mapfile -t protos < <(find api -name '*.proto' | LC_ALL=C sort)
protoc -I . \
	--plugin=protoc-gen-go="$tools/protoc-gen-go" \
	--go_out="$out" --go_opt=paths=source_relative \
	"${protos[@]}"
