# Chart tests on a real local control plane: hack/kube/README.md.
# Not part of TEST_EXTRA: .ci/run calls `make test-cluster` after `make test`.

.PHONY: test-cluster cluster-up cluster-down test-node node-up node-down
test-cluster: ## install/upgrade/rollback the chart on a local kube-apiserver+kwok (control plane built once per machine: ≈12 min cold idle, ≈53 min on a loaded box)
	hack/kube/test.sh

cluster-up: ## start the local control plane (hack/kube/cluster.sh up); prints KUBECONFIG
	hack/kube/cluster.sh up

cluster-down: ## stop the local control plane started by cluster-up
	hack/kube/cluster.sh down

# The chart on a real node: kubelet + containerd + CNI + kube-proxy,
# CoreDNS, metrics-server, Traefik as the Gateway; needs root. Not part of
# TEST_EXTRA: .ci/run calls `make test-node` after `make test-cluster`.
test-node: ## the chart on a real node: install, load through the Gateway, HPA, rolling update, pod kill, Redis down, PDB (root; hack/kube/README.md)
	hack/kube/node-test.sh

node-up: ## start a real one-node cluster (hack/kube/node.sh up); prints KUBECONFIG and the Gateway URL
	hack/kube/node.sh up

node-down: ## stop the node started by node-up and remove its interfaces and rules
	hack/kube/node.sh down
