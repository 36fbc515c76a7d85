#!/usr/bin/env bash
# Installs a pinned developer tool once per machine and prints its path.
#   hack/tools.sh helm|kubeconform|staticcheck|govulncheck|kind|promtool|docker-compose
# Tools are cached outside the work tree (in $TOOLS_DIR, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/webhook-ingestor/bin) so a fresh clone on the
# same machine, such as CI's, reuses them. Versions are pinned here on purpose:
# `@latest` is not reproducible and some of these refuse it on our proxy.
set -euo pipefail

TOOLS_DIR=${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/webhook-ingestor/bin}

declare -A PKG=(
  [helm]=helm.sh/helm/v3/cmd/helm@v3.22.0
  [kubeconform]=github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
  [staticcheck]=honnef.co/go/tools/cmd/staticcheck@v0.8.2
  [govulncheck]=golang.org/x/vuln/cmd/govulncheck@v1.9.0
  [kind]=sigs.k8s.io/kind@v0.33.0
  [promtool]=github.com/prometheus/prometheus/cmd/promtool@v0.316.0
  # Compose v2, the docker CLI plugin (Debian packages only the old v1).
  # `go install` refuses it (its go.mod has exclude directives), so it is
  # built inside its own module, as its release does.
  [docker-compose]=github.com/docker/compose/v2/cmd@v2.40.3
)

tool=${1:?usage: hack/tools.sh <tool>}
pkg=${PKG[$tool]:-}
if [[ -z $pkg ]]; then
  echo "hack/tools.sh: unknown tool '$tool' (known: ${!PKG[*]})" >&2
  exit 2
fi

version=${pkg##*@}
dir="$TOOLS_DIR/$tool-$version"
if [[ ! -x $dir/$tool ]]; then
  echo "hack/tools.sh: installing $pkg into $dir (once per machine)" >&2
  mkdir -p "$dir"
  if [[ $tool == docker-compose ]]; then
    mod=${pkg%%/cmd@*}
    src=$(go mod download -json "$mod@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d $src ]] || { echo "hack/tools.sh: could not download $mod@$version" >&2; exit 1; }
    (cd "$src" && GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath \
      -ldflags "-s -w -X $mod/internal.Version=$version" -o "$dir/$tool" ./cmd)
  else
    GOBIN="$dir" GOFLAGS=-buildvcs=false go install "$pkg"
  fi
fi
echo "$dir/$tool"
