#!/usr/bin/env bash
# Builds the real node's system images once per machine and prints the
# directory that holds them (image tars for `ctr -n k8s.io images import`):
#   pause.tar           the pod sandbox (hack/kube/cmd/pause)
#   coredns.tar         CoreDNS v1.15.0, cluster DNS plugins only (coredns/)
#   metrics-server.tar  metrics-server v0.8.0 (metrics-server/)
#   traefik.tar         Traefik v3.7.13, the Gateway API entry (traefik/)
#   crisweep            removes every pod sandbox on `node.sh down` (hack/kube/cmd/crisweep)
# Each is a static Go binary (CGO off) in an otherwise empty image made by
# hack/kube/cmd/ociimage: no registry, no Docker engine needed.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/webhook-ingestor/addons-<hash>/, <hash>
# over every go.mod/go.sum and source file here; flock-guarded like
# hack/kube/build.sh. KUBE_BUILD_P limits go build -p.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kube=$(cd "$here/.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
[[ $GOTOOLCHAIN == local ]] && export GOTOOLCHAIN=auto
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

LEGO=github.com/go-acme/lego/v5@v5.4.1 # must match traefik/go.mod's resolved lego
HTTP_AUTH=github.com/abbot/go-http-auth@v0.4.0
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/webhook-ingestor
hash=$(cd "$here" && cat build.sh ./*/go.mod ./*/go.sum coredns/*.go traefik/ext/* traefik/lego-patch/providers/dns/*.go traefik/go-http-auth-patch/*.go \
  "$kube"/cmd/pause/*.go "$kube"/cmd/ociimage/*.go "$kube"/cmd/crisweep/*.go "$kube"/go.sum | sha256sum | cut -c1-16)
out=$cache_root/addons-$hash
images=(pause coredns metrics-server traefik)

done_already() {
  local i
  for i in "${images[@]}"; do [[ -f $out/$i.tar ]] || return 1; done
  [[ -x $out/crisweep ]]
}
if done_already; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache_root"
exec 9>"$cache_root/addons-build.lock"
flock 9
if done_already; then
  echo "$out"
  exit 0
fi

tmp=$(mktemp -d "$cache_root/addons-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
p=${KUBE_BUILD_P:-$(nproc)}
start=$SECONDS
b() { go build -p "$p" -trimpath -ldflags '-s -w' "$@"; }

echo "hack/kube/addons/build.sh: building the node's system images into $out (once per machine)" >&2
(cd "$kube" && b -o "$tmp/pause" ./cmd/pause && b -o "$tmp/crisweep" ./cmd/crisweep && go build -o "$tmp/ociimage" ./cmd/ociimage)
(cd "$here/coredns" && b -o "$tmp/coredns" .)
echo "hack/kube/addons/build.sh: coredns after $((SECONDS - start)) s" >&2
(cd "$here/metrics-server" && b -o "$tmp/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server)
echo "hack/kube/addons/build.sh: metrics-server after $((SECONDS - start)) s" >&2
# Traefik's go.mod replaces two modules with directories made here from
# releases the proxy serves: lego-nodns/ (lego minus the DNS-01 providers whose
# SDK modules the proxy does not serve) and go-http-auth/ (v0.4.0 plus the two
# identifiers of Traefik's unserved fork). Both are deleted after the build.
copy_module() { # module@version destination
  local src
  src=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$2"
  cp -r "$src" "$2"
  chmod -R u+w "$2"
}
lego=$here/traefik/lego-nodns auth=$here/traefik/go-http-auth
trap 'rm -rf "$tmp" "$lego" "$auth"' EXIT
copy_module "$LEGO" "$lego"
rm -f "$lego/providers/dns/"*.go
cp "$here/traefik/lego-patch/providers/dns/"*.go "$lego/providers/dns/"
copy_module "$HTTP_AUTH" "$auth"
rm -rf "$auth/examples"
cp "$here/traefik/go-http-auth-patch/"*.go "$auth/"
printf 'module github.com/abbot/go-http-auth\n\ngo 1.21\n\nrequire golang.org/x/crypto %s\n' \
  "$(awk '$1 == "golang.org/x/crypto" { print $2 }' "$here/traefik/go.mod")" >"$auth/go.mod"
(cd "$here/traefik" && go test -vet=off -run 'TestCheckSecret|TestRequireAuthStale' github.com/abbot/go-http-auth >&2)
(cd "$here/traefik" && b -o "$tmp/traefik" github.com/traefik/traefik/v3/cmd/traefik)
rm -rf "$lego" "$auth"
trap 'rm -rf "$tmp"' EXIT
echo "hack/kube/addons/build.sh: traefik after $((SECONDS - start)) s" >&2

img() { "$tmp/ociimage" -name "local/$1:$2" -o "$tmp/$1.tar" -entrypoint "/$1" "$1=$tmp/$1"; }
img pause 1
img coredns v1.15.0
img metrics-server v0.8.0
img traefik v3.7.13
rm -f "$tmp/ociimage"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "hack/kube/addons/build.sh: done in $((SECONDS - start)) s" >&2
echo "$out"
