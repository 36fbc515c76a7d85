# Chart tests on a real local control plane: hack/kube/README.md.
# Not part of TEST_EXTRA: .ci/run calls `make test-cluster` after `make test`.

.PHONY: test-cluster cluster-up cluster-down
test-cluster: ## install/upgrade/rollback the chart on a local kube-apiserver+kwok (control plane built once per machine: ≈12 min cold idle, ≈53 min on a loaded box)
	hack/kube/test.sh

cluster-up: ## start the local control plane (hack/kube/cluster.sh up); prints KUBECONFIG
	hack/kube/cluster.sh up

cluster-down: ## stop the local control plane started by cluster-up
	hack/kube/cluster.sh down
