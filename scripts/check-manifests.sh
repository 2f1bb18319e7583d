#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/manifests without a cluster.
#
#   scripts/check-manifests.sh          render with kubectl kustomize (when
#                                       kubectl is installed) and run the
#                                       deploytest checks
#   scripts/check-manifests.sh --sync   copy deploy/routes/*.yaml into the
#                                       control plane's ConfigMap sources
#                                       (kustomize reads no file outside its
#                                       own directory), then check
set -euo pipefail
cd "$(dirname "$0")/.."

manifests=deploy/manifests
copies=$manifests/controlplane/routes

if [[ "${1:-}" == "--sync" ]]; then
  mkdir -p "$copies"
  for f in deploy/routes/*.yaml; do
    cp "$f" "$copies/"
    grep -q "routes/$(basename "$f")\$" "$manifests/controlplane/kustomization.yaml" ||
      echo "check-manifests: add routes/$(basename "$f") to configMapGenerator in $manifests/controlplane/kustomization.yaml" >&2
  done
  for f in "$copies"/*.yaml; do
    [[ -e "deploy/routes/$(basename "$f")" ]] ||
      echo "check-manifests: $f has no original in deploy/routes: delete it and its configMapGenerator entry" >&2
  done
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--sync]" >&2
  exit 2
fi

if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize "$manifests" >/dev/null
  echo "check-manifests: kubectl kustomize $manifests: OK"
else
  echo "check-manifests: kubectl not found: skipping the render (the Go checks still run)"
fi
go test -race -count=1 ./internal/deploytest/
