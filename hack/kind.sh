#!/usr/bin/env bash
# Creates or deletes the kind dev cluster with a local registry.
#   hack/kind.sh up     cluster "webhook-ingestor" from kind-config.yaml, registry
#                       "kind-registry" on localhost:5001, the Gateway API CRDs + Traefik (the Gateway), metrics-server
#   hack/kind.sh down   deletes the cluster and the registry container
# Needs docker (or podman via KIND_EXPERIMENTAL_PROVIDER), kubectl; kind is
# installed by hack/tools.sh when missing. Follows kind's local-registry recipe:
# hosts.toml per node + the KEP-1755 ConfigMap, which Tilt reads to find the
# registry.
set -euo pipefail

cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER:-webhook-ingestor}
REG_NAME=${KIND_REGISTRY_NAME:-kind-registry}
REG_PORT=${KIND_REGISTRY_PORT:-5001}
REGISTRY_IMAGE=${KIND_REGISTRY_IMAGE:-registry:2}

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "hack/kind.sh: '$1' is required but not installed" >&2
    exit 1
  }
}

kind_bin() {
  if command -v kind >/dev/null 2>&1; then
    command -v kind
  else
    hack/tools.sh kind
  fi
}

up() {
  need docker
  need kubectl
  local kind
  kind=$(kind_bin)

  if [[ "$(docker inspect -f '{{.State.Running}}' "$REG_NAME" 2>/dev/null || true)" != "true" ]]; then
    docker run -d --restart=always -p "127.0.0.1:${REG_PORT}:5000" --network bridge --name "$REG_NAME" "$REGISTRY_IMAGE"
  fi

  if ! "$kind" get clusters | grep -qx "$CLUSTER"; then
    "$kind" create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
  fi

  # Nodes resolve localhost:5001 to the registry container.
  local node dir="/etc/containerd/certs.d/localhost:${REG_PORT}"
  for node in $("$kind" get nodes --name "$CLUSTER"); do
    docker exec "$node" mkdir -p "$dir"
    printf '[host."http://%s:5000"]\n' "$REG_NAME" | docker exec -i "$node" cp /dev/stdin "$dir/hosts.toml"
  done
  if [[ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REG_NAME")" == "null" ]]; then
    docker network connect kind "$REG_NAME"
  fi

  local ctx="kind-${CLUSTER}"
  kubectl --context "$ctx" apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${REG_PORT}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
YAML

  kubectl --context "$ctx" apply -k k8s/metrics-server
  kubectl --context "$ctx" apply --server-side -k k8s/gateway
  kubectl --context "$ctx" -n traefik wait --for=condition=Available deployment/traefik --timeout=180s
  kubectl --context "$ctx" -n traefik wait --for=condition=Programmed gateway/entry --timeout=120s
  kubectl --context "$ctx" -n kube-system rollout status deployment/metrics-server --timeout=180s
  echo "kind cluster '$CLUSTER' is ready (context $ctx); registry localhost:${REG_PORT}. Next: make tilt"
}

down() {
  need docker
  local kind
  kind=$(kind_bin)
  "$kind" delete cluster --name "$CLUSTER"
  if docker inspect "$REG_NAME" >/dev/null 2>&1; then
    docker rm -f "$REG_NAME"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *)
    echo "usage: hack/kind.sh up|down" >&2
    exit 2
    ;;
esac
