#!/usr/bin/env bash
# `make test-cluster`: builds (once per machine) and starts the local control
# plane, runs the Go cluster tests in clustertest/ against it, stops it.
#   CLUSTER_CHARTS=smoke,webhook-ingestor   which charts (default: all present)
#   CLUSTER_TEST_RUN=<regexp>               go test -run filter
# On failure the component logs are copied to <repo>/.data/kube-logs/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
[[ $GOTOOLCHAIN == local ]] && export GOTOOLCHAIN=auto
t0=$SECONDS

HELM=$("$repo/hack/tools.sh" helm)
KUBECONFORM=$("$repo/hack/tools.sh" kubeconform)
"$here/build.sh" >/dev/null
echo "test.sh: tools and control plane ready after $((SECONDS - t0)) s" >&2

mkdir -p "$repo/.data"
KUBE_RUN_DIR=$(mktemp -d "$repo/.data/kube-test.XXXXXX")
export HELM KUBECONFORM KUBE_RUN_DIR
cleanup() {
  local rc=$?
  if ((rc != 0)) && [[ -d $KUBE_RUN_DIR/logs ]]; then
    rm -rf "$repo/.data/kube-logs"
    cp -r "$KUBE_RUN_DIR/logs" "$repo/.data/kube-logs"
    echo "test.sh: component logs kept in .data/kube-logs/" >&2
  fi
  "$here/cluster.sh" down "$KUBE_RUN_DIR" || true
  echo "test.sh: total $((SECONDS - t0)) s" >&2
  exit "$rc"
}
trap cleanup EXIT
# Assign first: `eval "$(cmd)"` would hide cmd's failure.
cluster_env=$("$here/cluster.sh" up "$KUBE_RUN_DIR")
eval "$cluster_env"
export KUBECONFIG KUBE_BIN_DIR
# Without a cluster the tests skip; here that must be a failure.
export CLUSTER_TEST_REQUIRED=1

cd "$here"
go test ./clustertest -count=1 -v -timeout 40m ${CLUSTER_TEST_RUN:+-run "$CLUSTER_TEST_RUN"}
