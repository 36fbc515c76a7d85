#!/usr/bin/env bash
# A real, local Kubernetes control plane for the chart tests (no Docker needed):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok with
# one fake node, all on random 127.0.0.1 ports.
#
#   hack/kube/cluster.sh up   [DIR]  start; prints `export KUBECONFIG=DIR/kubeconfig`
#   hack/kube/cluster.sh down [DIR]  stop what `up` started (by PID) and remove DIR
#   hack/kube/cluster.sh env  [DIR]  print the exports again
#
# DIR defaults to $KUBE_RUN_DIR or <repo>/.data/kube. Logs: DIR/logs/*.log.
# Binaries come from hack/kube/build.sh (built once per machine).
# Identity: a static token in system:masters (DIR/tokens.csv, DIR/kubeconfig).
#
# For the real node (hack/kube/node.sh) two variables change the set-up:
#   KUBE_NODE_IP=ADDR  the API server binds and advertises ADDR (an address on
#                      an interface node.sh created) instead of 127.0.0.1, so
#                      pods reach it through the `kubernetes` Service; a CA is
#                      made for the front proxy (metrics-server's APIService)
#                      and for the API server's client certificate to kubelets.
#   KUBE_KWOK=0        no kwok and no fake node.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cmd=${1:-}
dir=${2:-${KUBE_RUN_DIR:-$repo/.data/kube}}

log() { echo "cluster.sh: $*" >&2; }
# shellcheck source=hack/kube/procs.sh
source "$here/procs.sh"

print_env() {
  echo "export KUBECONFIG=$dir/kubeconfig"
  echo "export KUBE_BIN_DIR=$(cat "$dir/bin-dir")"
}

# stop_all: stop what `up` started, by PID, newest first; keeps DIR (logs).
stop_all() {
  [[ -d $dir/pids ]] || return 0
  local name
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_pid_file "$name"
  done
}

down() {
  stop_all
  rm -rf "$dir"
  log "stopped"
}

# need CMD PKG: install a missing Debian package (a fresh CI machine may lack it).
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 (for $1) with apt-get"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$2" >&2
}

# make_node_pki: one CA (DIR/pki/node-ca.*) signing the front-proxy client
# certificate (the API server -> aggregated APIs such as metrics-server) and
# the API server's client certificate to kubelets (logs, exec; O=system:masters).
make_node_pki() {
  local p=$dir/pki
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=webhook-ingestor-node-ca \
    -keyout "$p/node-ca.key" -out "$p/node-ca.crt" 2>/dev/null
  local name subj
  for name in front-proxy-client apiserver-kubelet-client; do
    subj=/CN=$name
    [[ $name == apiserver-kubelet-client ]] && subj=/O=system:masters/CN=kube-apiserver-kubelet-client
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$p/$name.key" -out "$p/$name.csr" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >"$p/$name.ext"
    openssl x509 -req -in "$p/$name.csr" -CA "$p/node-ca.crt" -CAkey "$p/node-ca.key" -CAcreateserial \
      -days 2 -extfile "$p/$name.ext" -out "$p/$name.crt" 2>/dev/null
  done
  chmod 600 "$p"/*.key
}

up() {
  need openssl openssl
  need curl curl
  need setsid util-linux
  if [[ -f $dir/pids/kube-apiserver ]] && kill -0 "$(cat "$dir/pids/kube-apiserver")" 2>/dev/null; then
    log "already running in $dir"
    print_env
    return 0
  fi
  rm -rf "$dir"
  local bin
  bin=$("$here/build.sh")
  mkdir -p "$dir"/{logs,pids,pki,etcd}
  echo "$bin" >"$dir/bin-dir"
  local kp=$bin/kubeplane t0=$SECONDS
  # Stop everything already started if any step below fails.
  trap 'log "up failed; stopping it (logs kept in $dir/logs)"; stop_all' ERR

  local ports etcd_port peer_port api_port kwok_port
  mapfile -t ports < <("$kp" freeport 4)
  etcd_port=${ports[0]} peer_port=${ports[1]} api_port=${ports[2]} kwok_port=${ports[3]}

  local addr=${KUBE_NODE_IP:-127.0.0.1} node_flags=()
  if [[ -n ${KUBE_NODE_IP:-} ]]; then
    make_node_pki
    node_flags=(
      --endpoint-reconciler-type lease
      --enable-aggregator-routing=true
      --requestheader-client-ca-file "$dir/pki/node-ca.crt"
      --requestheader-allowed-names front-proxy-client
      --requestheader-extra-headers-prefix X-Remote-Extra-
      --requestheader-group-headers X-Remote-Group
      --requestheader-username-headers X-Remote-User
      --proxy-client-cert-file "$dir/pki/front-proxy-client.crt"
      --proxy-client-key-file "$dir/pki/front-proxy-client.key"
      --kubelet-client-certificate "$dir/pki/apiserver-kubelet-client.crt"
      --kubelet-client-key "$dir/pki/apiserver-kubelet-client.key"
      --kubelet-preferred-address-types "InternalIP,Hostname"
    )
  else
    node_flags=(--endpoint-reconciler-type none)
  fi

  local admin_token
  admin_token=$(openssl rand -hex 24)
  printf '%s,admin,admin,"system:masters"\n' "$admin_token" >"$dir/tokens.csv"
  openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
  chmod 600 "$dir/tokens.csv" "$dir/pki/sa.key"

  start etcd "$kp" etcd --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$peer_port"
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver "$kp" apiserver \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$addr" --secure-port "$api_port" \
    --advertise-address "$addr" "${node_flags[@]}" \
    --cert-dir "$dir/pki" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/pki/sa.key" \
    --service-account-signing-key-file "$dir/pki/sa.key" \
    --token-auth-file "$dir/tokens.csv" \
    --authorization-mode Node,RBAC \
    --enable-priority-and-fairness=false \
    --profiling=false
  wait_for kube-apiserver 90 curl -fsSk -H "Authorization: Bearer $admin_token" "https://$addr:$api_port/readyz"

  # The serving cert is self-signed: apiserver.crt holds the cert, then its CA.
  awk '/BEGIN CERTIFICATE/{n++} n==2' "$dir/pki/apiserver.crt" >"$dir/pki/ca.crt"
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://$addr:$api_port
    certificate-authority-data: $(base64 -w0 "$dir/pki/ca.crt")
users:
- name: admin
  user:
    token: $admin_token
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
EOF
  chmod 600 "$dir/kubeconfig"

  # kwok posts the node status every 20-45 s; on a loaded CI machine that can
  # exceed the default 50 s grace period, and a NotReady node turns every pod
  # NotReady. 5 min keeps the fake node Ready.
  start kube-controller-manager "$kp" controller-manager \
    --kubeconfig "$dir/kubeconfig" --leader-elect=false --secure-port 0 \
    --service-account-private-key-file "$dir/pki/sa.key" \
    --root-ca-file "$dir/pki/ca.crt" \
    --use-service-account-credentials=false \
    --node-monitor-grace-period 5m
  start kube-scheduler "$kp" scheduler \
    --kubeconfig "$dir/kubeconfig" --leader-elect=false --secure-port 0
  if [[ ${KUBE_KWOK:-1} == 0 ]]; then
    wait_for "default ServiceAccount" 60 "$kp" kubectl --kubeconfig "$dir/kubeconfig" get serviceaccount default -n default
    trap - ERR
    log "up in $((SECONDS - t0)) s: https://$addr:$api_port, no nodes yet (logs in $dir/logs)"
    print_env
    return 0
  fi
  start kwok "$bin/kwok" \
    --kubeconfig "$dir/kubeconfig" --config "$here/kwok-stages.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --cidr 10.244.0.0/16 --node-ip 10.0.0.1 \
    --server-address "127.0.0.1:$kwok_port"

  local kubectl=("$kp" kubectl --kubeconfig "$dir/kubeconfig")
  "${kubectl[@]}" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status:
  allocatable: {cpu: "32", memory: 64Gi, pods: "110"}
  capacity: {cpu: "32", memory: 64Gi, pods: "110"}
EOF
  wait_for "node kwok-node-0" 60 "${kubectl[@]}" wait --for=condition=Ready node/kwok-node-0 --timeout=1s
  # Pods are rejected until the namespace's default ServiceAccount exists.
  wait_for "default ServiceAccount" 60 "${kubectl[@]}" get serviceaccount default -n default
  trap - ERR
  log "up in $((SECONDS - t0)) s: https://$addr:$api_port (logs in $dir/logs)"
  print_env
}

case $cmd in
up) up ;;
down) down ;;
env) print_env ;;
*)
  echo "usage: $0 up|down|env [DIR]" >&2
  exit 2
  ;;
esac
