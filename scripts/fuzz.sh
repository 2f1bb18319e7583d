#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each.
# Usage: scripts/fuzz.sh [DURATION]   (default 20s per target)
set -euo pipefail
cd "$(dirname "$0")/.."
time_per_target=${1:-20s}
grep -rl --include='*_test.go' '^func Fuzz' --exclude-dir=bench . | sort | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "== $pkg $target ($time_per_target)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time_per_target" "$pkg"
  done
done
