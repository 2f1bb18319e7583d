#!/usr/bin/env bash
# Installs what the tests need on a bare machine: protoc (the generated-code
# staleness test compares against Debian's protobuf-compiler), ip from
# iproute2 (the proxy's end-to-end tests put their upstream in a network
# namespace; they skip without root or ip) and nft from nftables (the
# capture's namespace tests list what "ambassador init" installed with it;
# they skip without root, ip or nft, and fail instead under CI=true), and
# through scripts/kube-deps.sh the etcd, kube-apiserver and kubectl the
# Kubernetes tests run (internal/kubetest; built from their Go modules and
# cached, about ten minutes the first time).
set -euo pipefail
need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test-deps: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash "$(dirname "$0")/kube-deps.sh"
