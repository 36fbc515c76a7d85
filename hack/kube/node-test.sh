#!/usr/bin/env bash
# `make test-node`: the chart on a real node. Builds (once per machine) the
# control plane, the node's system images and this repo's two images, starts
# hack/kube/node.sh, runs Redis and PostgreSQL as host processes on the node's
# address (outside the chart, reached by address, as production has them),
# runs the Go tests in nodetest/, and stops and removes everything it started.
#   NODE_TEST_RUN=<regexp>   go test -run filter (e.g. 'TestNode/(install|load)')
#   NODE_IMAGES=docker|go    how our images are made: `make image` + docker save
#                            (default when a Docker engine answers), or the same
#                            static binaries packed by cmd/ociimage (no engine)
# On failure the logs are kept in <repo>/.data/node-logs/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
[[ $GOTOOLCHAIN == local ]] && export GOTOOLCHAIN=auto
# shellcheck source=hack/lib.sh
source "$repo/hack/lib.sh"
((EUID == 0)) || die "test-node needs root (containerd, kubelet, iptables, interfaces)"
t0=$SECONDS
timing() { echo "node-test.sh: $1 after $((SECONDS - t0)) s" >&2; }

HELM=$("$repo/hack/tools.sh" helm)
"$here/build.sh" >/dev/null
timing "control plane built"
"$here/addons/build.sh" >/dev/null
timing "node images built"

run_dir=$repo/.data/node-test
rm -rf "$run_dir"
mkdir -p "$run_dir"
images=$run_dir/images
mkdir -p "$images"

# Our images, under two tags (the rolling update goes from A to B).
TAG_A=node-a TAG_B=node-b
mode=${NODE_IMAGES:-}
if [[ -z $mode ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then mode=docker; else mode=go; fi
fi
case $mode in
docker)
  make -C "$repo" image IMAGE_TAG=$TAG_A >&2
  for c in ingress worker; do docker tag "webhook-ingestor/$c:$TAG_A" "webhook-ingestor/$c:$TAG_B"; done
  docker save -o "$images/app.tar" \
    "webhook-ingestor/ingress:$TAG_A" "webhook-ingestor/worker:$TAG_A" \
    "webhook-ingestor/ingress:$TAG_B" "webhook-ingestor/worker:$TAG_B"
  ;;
go)
  log "no Docker engine (or NODE_IMAGES=go): packing the static binaries with cmd/ociimage"
  (cd "$repo" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$TAG_A" \
    -o "$images/" ./services/ingress ./services/worker)
  ociimage=$images/ociimage
  (cd "$here" && go build -o "$ociimage" ./cmd/ociimage)
  for c in ingress worker; do
    for tag in $TAG_A $TAG_B; do
      "$ociimage" -name "webhook-ingestor/$c:$tag" -o "$images/$c-$tag.tar" \
        -entrypoint "/usr/local/bin/$c" "usr/local/bin/$c=$images/$c"
    done
  done
  ;;
*) die "NODE_IMAGES must be docker or go" ;;
esac
timing "service images ($mode) ready"

node_dir=$run_dir/node
redis_dir=$run_dir/redis
pg_dir=$run_dir/postgres
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    rm -rf "$repo/.data/node-logs"
    mkdir -p "$repo/.data/node-logs"
    cp -r "$node_dir/logs" "$node_dir/kube/logs" "$node_dir/pod-logs" "$node_dir.logs/." "$repo/.data/node-logs/" 2>/dev/null || true
    cp "$redis_dir/redis.log" "$repo/.data/node-logs/" 2>/dev/null || true
    echo "node-test.sh: logs kept in .data/node-logs/" >&2
  fi
  "$here/node.sh" down "$node_dir" || true
  stop_redis "$redis_dir" || true
  stop_postgres "$pg_dir" || true
  echo "node-test.sh: total $((SECONDS - t0)) s" >&2
  exit "$rc"
}
trap cleanup EXIT

node_env=$("$here/node.sh" up "$node_dir")
eval "$node_env"
timing "node up"
"$here/node.sh" import "$node_dir" "$images"/*.tar

# Redis and PostgreSQL on the node's address (the dummy interface node.sh made).
redis_port=${NODE_REDIS_PORT:-56379} pg_port=${NODE_PG_PORT:-55432}
start_redis "$redis_port" "$redis_dir" "$NODE_IP"
start_postgres "$pg_port" "$pg_dir" "$NODE_IP" 10.244.0.0/16
"$(pg_bindir)/psql" -h "$NODE_IP" -p "$pg_port" -U postgres -qc 'create database webhooks' >/dev/null

go build -C "$repo" -o "$run_dir/loadtest" ./loadtest
timing "ready to test"

export HELM KUBECONFIG KUBE_BIN_DIR NODE_IP NODE_GATEWAY_URL
export NODE_TEST_REQUIRED=1
export NODE_REDIS_ADDR=$NODE_IP:$redis_port NODE_REDIS_DIR=$redis_dir
export NODE_DATABASE_URL="postgres://postgres@$NODE_IP:$pg_port/webhooks?sslmode=disable"
NODE_PSQL="$(pg_bindir)/psql"
export NODE_PSQL
export NODE_LOADTEST=$run_dir/loadtest NODE_TAG_A=$TAG_A NODE_TAG_B=$TAG_B
export NODE_REPO=$repo
cd "$here"
go test ./nodetest -count=1 -v -timeout 45m ${NODE_TEST_RUN:+-run "$NODE_TEST_RUN"}
