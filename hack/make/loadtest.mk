# Load tests: the Go load runner in loadtest/ (k6 profiles in
# loadtest/k6/), with the audit "rows == accepted". Figures and how to
# reproduce them: loadtest/README.md.
# LOADTEST_ARGS adds runner flags, e.g. make loadtest LOADTEST_ARGS='-scale 0.5'

LOADTEST_ARGS ?=
LOADTEST_STACK = -ingress-metrics http://127.0.0.1:9090/metrics -worker-metrics http://127.0.0.1:9091/metrics

.PHONY: loadtest loadtest-smoke loadtest-ci
loadtest: ## the reference k6 profile (loadtest/k6/seed.js: 500 VUs, 5 min) against `make run`'s stack, then audit rows == accepted
	go run ./loadtest -profile seed $(LOADTEST_STACK) $(LOADTEST_ARGS)

loadtest-smoke: ## 20 s version of `make loadtest` against `make run`'s stack
	go run ./loadtest -profile smoke $(LOADTEST_STACK) $(LOADTEST_ARGS)

loadtest-ci: ## short load run + audit against a stack it starts itself on private ports (runs in make test)
	loadtest/ci.sh

TEST_EXTRA += loadtest-ci
