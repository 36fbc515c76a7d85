#!/usr/bin/env bash
# Builds the local control plane once per machine and prints the directory
# that holds it:
#   kubeplane   multi-call: etcd | apiserver | controller-manager | scheduler | kubelet |
#               proxy | kubectl | freeport (kubelet and kube-proxy: hack/kube/node.sh)
#   kwok        fake nodes/pods (sigs.k8s.io/kwok, version pinned in go.mod)
#   schemas/    kubeconform JSON schemas, generated from k8s.io/kubernetes' swagger.json
#               and from the vendored CRDs in crds/
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/webhook-ingestor/kube-<hash>/, where
# <hash> covers go.sum (every pinned version) and the sources compiled here,
# so a fresh clone on the same machine (CI's) reuses the binaries and only a
# version bump rebuilds. A cold build takes ≈10 min on 2 cores; warm: 0 s.
# KUBE_BUILD_P limits build parallelism (go build -p) when memory is tight.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
[[ $GOTOOLCHAIN == local ]] && export GOTOOLCHAIN=auto
export GOFLAGS=-buildvcs=false

K8S_VERSION=v1.37.2 # must match go.mod's k8s.io/kubernetes
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/webhook-ingestor
hash=$(cat go.sum cmd/kubeplane/*.go cmd/openapi2schema/*.go crds/*.yaml | sha256sum | cut -c1-16)
out=$cache_root/kube-$hash

if [[ -x $out/kubeplane && -x $out/kwok && -f $out/schemas/.done ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache_root"
# Two runs on one machine (a developer and CI) must not build twice at once.
exec 9>"$cache_root/kube-build.lock"
flock 9
if [[ -x $out/kubeplane && -x $out/kwok && -f $out/schemas/.done ]]; then
  echo "$out"
  exit 0
fi

tmp=$(mktemp -d "$cache_root/kube-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
p=${KUBE_BUILD_P:-$(nproc)}
start=$SECONDS

# Without these the server reports v0.0.0-master and helm rejects any chart
# with a kubeVersion constraint.
vpkg=k8s.io/component-base/version
major=${K8S_VERSION#v}; major=${major%%.*}
minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor"
ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"

echo "hack/kube/build.sh: building the control plane into $out (once per machine, ≈10 min cold, -p $p)" >&2
go build -p "$p" -ldflags "$ldflags" -o "$tmp/kubeplane" ./cmd/kubeplane
echo "hack/kube/build.sh: kubeplane built after $((SECONDS - start)) s" >&2
go build -p "$p" -ldflags "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok
echo "hack/kube/build.sh: kwok built after $((SECONDS - start)) s" >&2

kdir=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
if [[ -z $kdir || ! -f $kdir/api/openapi-spec/swagger.json ]]; then
  go mod download k8s.io/kubernetes
  kdir=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
fi
go run ./cmd/openapi2schema -swagger "$kdir/api/openapi-spec/swagger.json" -out "$tmp/schemas" crds/*.yaml
touch "$tmp/schemas/.done"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "hack/kube/build.sh: done in $((SECONDS - start)) s" >&2
echo "$out"
