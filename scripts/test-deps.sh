#!/usr/bin/env bash
# Installs what the tests need on a bare machine: protoc (the generated-code
# staleness test compares against Debian's protobuf-compiler) and ip from
# iproute2 (the proxy's end-to-end tests put their upstream in a network
# namespace; they skip without root or ip).
set -euo pipefail
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test-deps: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
