#!/usr/bin/env bash
# Provides the binaries the Kubernetes tests run (internal/kubetest):
# kube-apiserver and kubectl built from the pinned k8s.io/kubernetes module,
# and etcd built from go.etcd.io/etcd/server/v3 at the version Kubernetes pins
# (Debian's etcd-server is 3.4, older than kube-apiserver 1.37 supports).
# hack/kube/go.mod pins them; it is a module of its own, outside ./... .
#
# The binaries are cached in $MESHLITE_KUBE_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/meshlite/kube-v1.37.2), which is where the
# tests look unless MESHLITE_KUBE_BIN names another directory. A cache built
# from the same hack/kube files is kept: the second run only prints versions.
# The first build takes 10 to 25 minutes on two cores and needs only the Go
# module proxy. Usage: scripts/kube-deps.sh [--force]
set -euo pipefail

KUBE_VERSION=v1.37.2 # keep in step with hack/kube/go.mod and kubetest.KubeVersion
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/hack/kube
cache=${MESHLITE_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshlite/kube-$KUBE_VERSION}
bins=(kube-apiserver kubectl etcd)

die() { echo "kube-deps: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go 1.26 or later is needed)"
grep -q "k8s.io/kubernetes $KUBE_VERSION\b" "$src/go.mod" ||
  die "hack/kube/go.mod does not require k8s.io/kubernetes $KUBE_VERSION; update KUBE_VERSION here and in internal/kubetest"

# Kubernetes' own build sets these (hack/lib/version.sh); without them the
# binaries report v0.0.0-master.
ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1"
  ldflags+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION") -X $pkg.gitTreeState=clean"
done

# What the binaries are built from; a different stamp means rebuild.
stamp=$( (cat "$src/go.mod" "$src/go.sum" "$src/etcd/main.go"; echo "$ldflags") | sha256sum | cut -d' ' -f1)

cached() {
  [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$stamp" ] || return 1
  local b
  for b in "${bins[@]}"; do [ -x "$cache/$b" ] || return 1; done
}

versions() {
  local api ctl etcd
  api=$("$cache/kube-apiserver" --version) || die "$cache/kube-apiserver does not run"
  ctl=$("$cache/kubectl" version --client | sed -n 's/^Client Version: //p') || die "$cache/kubectl does not run"
  etcd=$("$cache/etcd" --version | sed -n 's/^etcd Version: //p') || die "$cache/etcd does not run"
  echo "kube-deps: kube-apiserver ${api#Kubernetes }, kubectl $ctl, etcd $etcd in $cache"
}

mkdir -p "$cache"
# One build at a time per cache: a second caller waits, then finds it built.
exec 9>"$cache/.lock"
flock 9

if [ "${1:-}" != "--force" ] && cached; then
  versions
  exit 0
fi

echo "kube-deps: building kube-apiserver, kubectl ($KUBE_VERSION) and etcd into $cache (10 to 25 minutes on 2 cores, by load)"
start=$SECONDS
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# One go build for all three: they share most of their packages. -p 2: the
# machine is shared.
if ! (cd "$src" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
  go build -p 2 -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd) >"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log" >&2
  die "go build in hack/kube failed (last 40 lines of its output above)"
fi
for b in "${bins[@]}"; do
  [ -x "$tmp/$b" ] || die "the build did not produce $b"
  mv -f "$tmp/$b" "$cache/$b"
done
echo "$stamp" >"$cache/.stamp"
echo "kube-deps: built in $((SECONDS - start)) s"
versions
