#!/usr/bin/env bash
# A real, one-node Kubernetes cluster on this machine: the control plane of
# cluster.sh plus a kubelet with containerd + runc, CNI bridge networking,
# kube-proxy (iptables), CoreDNS, metrics-server, the Gateway API CRDs and
# Traefik as the Gateway. Everything runs as processes started here and is
# stopped by PID; the interfaces and iptables rules made here are removed by
# `down`.
#
#   hack/kube/node.sh up   [DIR]  start; prints the exports (KUBECONFIG, NODE_IP, ...)
#   hack/kube/node.sh down [DIR]  stop everything `up` started, clean up, remove DIR
#   hack/kube/node.sh import [DIR] IMAGE.tar...  import image tars into the node's containerd
#
# DIR defaults to $NODE_RUN_DIR or <repo>/.data/node. Needs root (containerd,
# kubelet, iptables). Debian packages it installs when missing: containerd,
# runc, containernetworking-plugins, iptables, conntrack.
#
# Addresses (all on interfaces made here, nothing on the machine's own):
#   NODE_IP     10.201.0.1 on wi-node0, a dummy interface (or an empty bridge
#               where the kernel lacks dummy): API server, kubelet, NodePorts
#   pods        10.244.0.0/24 on the bridge wi-cni0 (CNI bridge + host-local)
#   Services    10.96.0.0/16; cluster DNS 10.96.0.10; the Gateway on NODE_IP:30080
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cmd=${1:-}
dir=${2:-${NODE_RUN_DIR:-$repo/.data/node}}
dir=$(mkdir -p "$dir" && cd "$dir" && pwd)

NODE_IP=${NODE_IP:-10.201.0.1}
NODE_IF=wi-node0
BRIDGE=wi-cni0
POD_CIDR=10.244.0.0/24
CLUSTER_DNS=10.96.0.10
NODE_NAME=node-0
GATEWAY_NODEPORT=30080
FW_COMMENT=webhook-ingestor-node

# shellcheck source=hack/lib.sh
source "$repo/hack/lib.sh"
log() { echo "node.sh: $*" >&2; }
# shellcheck source=hack/kube/procs.sh
source "$here/procs.sh"

kubectl() { "$(cat "$dir/bin-dir")/kubeplane" kubectl --kubeconfig "$dir/kube/kubeconfig" "$@"; }
ctr_() { ctr --address "$dir/containerd/containerd.sock" -n k8s.io "$@"; }

print_env() {
  echo "export KUBECONFIG=$dir/kube/kubeconfig"
  echo "export KUBE_BIN_DIR=$(cat "$dir/bin-dir")"
  echo "export NODE_IP=$NODE_IP"
  echo "export NODE_RUN_DIR=$dir"
  echo "export NODE_GATEWAY_URL=http://$NODE_IP:$GATEWAY_NODEPORT"
  echo "export CONTAINERD_ADDRESS=$dir/containerd/containerd.sock"
}

need_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v openssl >/dev/null || missing+=(openssl)
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# stop_containers: after the kubelet is gone, stop and remove every pod
# sandbox through the CRI (containerd runs the CNI DEL: veth, IP, netns), then
# kill whatever task is left in the node's containerd namespace.
stop_containers() {
  [[ -S $dir/containerd/containerd.sock ]] || return 0
  if [[ -f $dir/addons-dir ]]; then
    "$(cat "$dir/addons-dir")/crisweep" "unix://$dir/containerd/containerd.sock" 2>>"$dir/logs/crisweep.log" || true
  fi
  local t
  for t in $(ctr_ tasks ls -q 2>/dev/null); do
    ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
  done
  sleep 0.5
  for t in $(ctr_ tasks ls -q 2>/dev/null); do
    ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true
  done
}

down() {
  # kubelet first (it would restart containers), then pods, proxy, containerd.
  stop_pid_file kubelet
  stop_containers
  stop_pid_file kube-proxy
  if [[ -f $dir/bin-dir && -f $dir/kube-proxy.yaml ]]; then
    "$(cat "$dir/bin-dir")/kubeplane" proxy --cleanup --config "$dir/kube-proxy.yaml" >"$dir/logs/kube-proxy-cleanup.log" 2>&1 || true
  fi
  # `proxy --cleanup` leaves the filter table's KUBE-FIREWALL chain (it drops
  # martian packets to localhost NodePorts) and its jumps from INPUT/OUTPUT.
  local c
  for c in INPUT OUTPUT; do
    while iptables -D "$c" -j KUBE-FIREWALL 2>/dev/null; do :; done
  done
  if iptables -F KUBE-FIREWALL 2>/dev/null; then iptables -X KUBE-FIREWALL 2>/dev/null || true; fi
  stop_pid_file containerd
  # Shims that survived containerd (re-parented to init): containerd records
  # each one's PID in its state directory.
  local f
  for f in "$dir"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    if [[ -f $f ]]; then kill -KILL "$(cat "$f")" 2>/dev/null || true; fi
  done
  if [[ -d $dir/kube ]]; then "$here/cluster.sh" down "$dir/kube" || true; fi
  # Mounts left under DIR (pod volumes, containerd snapshots, netns).
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  local r
  for r in "-i $BRIDGE" "-o $BRIDGE"; do
    # shellcheck disable=SC2086
    while iptables -D FORWARD $r -m comment --comment "$FW_COMMENT" -j ACCEPT 2>/dev/null; do :; done
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
  ip link delete "$NODE_IF" 2>/dev/null || true
  # Rules the CNI portmap plugin may have left for our pods (after crisweep there should be none).
  if iptables-save 2>/dev/null | grep -q -- "10\.244\.0\."; then
    log "warning: iptables rules for 10.244.0.0/24 remain (iptables-save | grep 10.244.0.)"
  fi
  rm -rf "$dir"
  log "stopped"
}

up() {
  ((EUID == 0)) || { log "needs root (containerd, kubelet, iptables)"; exit 1; }
  need_packages
  if [[ -f $dir/pids/kubelet ]] && kill -0 "$(cat "$dir/pids/kubelet")" 2>/dev/null; then
    log "already running in $dir"
    print_env
    return 0
  fi
  local t0=$SECONDS bin addons
  bin=$("$here/build.sh")
  addons=$("$here/addons/build.sh")
  mkdir -p "$dir"/{logs,pids,containerd,cni/net.d,kubelet,pod-logs}
  echo "$bin" >"$dir/bin-dir"
  echo "$addons" >"$dir/addons-dir"
  trap 'log "up failed; stopping it (logs in $dir/logs)"; dump_logs; down_keep_logs' ERR

  # The node's address: a dummy interface, never the machine's own address;
  # an empty bridge where the kernel has no dummy driver (this sandbox's).
  ip link show "$NODE_IF" >/dev/null 2>&1 || ip link add "$NODE_IF" type dummy 2>/dev/null ||
    ip link add "$NODE_IF" type bridge
  ip addr replace "$NODE_IP/32" dev "$NODE_IF"
  ip link set "$NODE_IF" up
  # Pods reach Services through the host (kube-proxy's DNAT): forwarding on.
  sysctl -qw net.ipv4.ip_forward=1
  # A Docker engine on the machine sets the FORWARD policy to DROP (and
  # bridge-nf-call-iptables, so even pod-to-pod frames on our bridge go
  # through FORWARD): accept what enters or leaves our bridge. `down`
  # removes exactly these two rules.
  local r
  for r in "-i $BRIDGE" "-o $BRIDGE"; do
    # shellcheck disable=SC2086 # r is two words on purpose
    iptables -C FORWARD $r -m comment --comment "$FW_COMMENT" -j ACCEPT 2>/dev/null ||
      iptables -I FORWARD 1 $r -m comment --comment "$FW_COMMENT" -j ACCEPT
  done

  # Control plane: API server on NODE_IP, no kwok.
  KUBE_NODE_IP=$NODE_IP KUBE_KWOK=0 "$here/cluster.sh" up "$dir/kube" >/dev/null

  # containerd: its own root, state and socket under DIR.
  cat >"$dir/containerd/config.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd/containerd.sock"
[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "local/pause:1"
  # This sandbox has no CAP_SYS_RESOURCE: without this every pod sandbox
  # fails ("runc create failed: ... can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
TOML
  cat >"$dir/cni/net.d/10-bridge.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "webhook-ingestor-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$dir/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  start containerd containerd --config "$dir/containerd/config.toml"
  wait_for containerd 30 ctr --address "$dir/containerd/containerd.sock" version

  local tar
  for tar in "$addons"/*.tar; do
    ctr_ images import "$tar" >/dev/null
  done

  # kubelet
  cat >"$dir/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 here: kubelet >= 1.35 refuses it unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/kube/pki/node-ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$CLUSTER_DNS]
resolvConf: ""
podLogsDir: $dir/pod-logs
staticPodPath: ""
# A shared build machine: no evictions for disk or memory pressure, no image GC.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 60
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 10s
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: true
YAML
  cp "$dir/kube/kubeconfig" "$dir/kubelet/kubeconfig"
  start kubelet "$bin/kubeplane" kubelet \
    --config "$dir/kubelet/config.yaml" \
    --kubeconfig "$dir/kubelet/kubeconfig" \
    --root-dir "$dir/kubelet/root" \
    --cert-dir "$dir/kubelet/pki" \
    --hostname-override "$NODE_NAME" \
    --node-ip "$NODE_IP" \
    --v 1
  wait_for "node $NODE_NAME" 120 kubectl get node "$NODE_NAME"
  kubectl patch node "$NODE_NAME" --type merge -p "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" >/dev/null

  # kube-proxy (iptables mode) as a host process.
  cat >"$dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $dir/kube/kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: 10.244.0.0/16
healthzBindAddress: $NODE_IP:10256
metricsBindAddress: $NODE_IP:10249
nodePortAddresses: ["$NODE_IP/32"]
# Pod -> Service -> pod on the same bridge: without masquerading the reply
# would bypass the host (no bridge-nf-call-iptables is set here).
iptables: {masqueradeAll: true, localhostNodePorts: false, syncPeriod: 5s, minSyncPeriod: 0s}
# Leave the machine's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
  start kube-proxy "$bin/kubeplane" proxy --config "$dir/kube-proxy.yaml" --v 1
  wait_for "node $NODE_NAME Ready" 120 kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s

  # Add-ons: DNS, metrics, Gateway API CRDs + Traefik.
  local gw
  gw=$(cd "$here" && go mod download -json sigs.k8s.io/gateway-api@v1.6.3 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  kubectl apply --server-side -f "$gw/config/crd/standard/" >/dev/null
  kubectl wait --for condition=Established crd --all --timeout=60s >/dev/null
  kubectl apply -f "$here/addons/manifests/" >/dev/null
  wait_for "CoreDNS" 180 kubectl -n kube-system rollout status deploy/coredns --timeout=2s
  wait_for "metrics-server" 180 kubectl -n kube-system rollout status deploy/metrics-server --timeout=2s
  wait_for "Traefik" 180 kubectl -n traefik rollout status deploy/traefik --timeout=2s
  wait_for "Gateway programmed" 120 kubectl -n traefik wait --for=condition=Programmed gateway/entry --timeout=2s
  trap - ERR
  log "up in $((SECONDS - t0)) s: node $NODE_NAME at $NODE_IP, Gateway on http://$NODE_IP:$GATEWAY_NODEPORT (logs in $dir/logs)"
  print_env
}

dump_logs() {
  kubectl get pods -A -o wide >&2 2>/dev/null || true
}

# down_keep_logs: like down, but copy the logs to DIR.logs first.
down_keep_logs() {
  rm -rf "$dir.logs"
  mkdir -p "$dir.logs"
  cp -r "$dir/logs" "$dir/kube/logs" "$dir/pod-logs" "$dir.logs/" 2>/dev/null || true
  down
  log "logs kept in $dir.logs"
}

import_images() {
  local tar
  for tar in "$@"; do
    ctr_ images import "$tar" >/dev/null
    log "imported $tar"
  done
}

case $cmd in
up) up ;;
down) down ;;
env) print_env ;;
import) shift 2; import_images "$@" ;;
*)
  echo "usage: $0 up|down|env [DIR] | import DIR IMAGE.tar..." >&2
  exit 2
  ;;
esac
