# webhook-ingestor — `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# go.mod pins `toolchain go1.26.10` (1.26.8 has reachable stdlib CVEs); some
# machines ship GOTOOLCHAIN=local, which would ignore that line.
export GOTOOLCHAIN ?= auto

# The offline vulnerability database (a Go module, so the proxy serves it).
VULNDB := golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018

# Extra test suites contributed by hack/make/*.mk append themselves here.
TEST_EXTRA :=
-include hack/make/*.mk

.PHONY: help build run test test-quick test-go lint vuln clean
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/ingress and bin/worker
	go build -trimpath -o bin/ ./services/...

run: ## run the whole stack here (Redis, PostgreSQL, worker, ingress) in the foreground
	hack/run.sh

test: test-go $(TEST_EXTRA) ## all tests; starts its own Redis and PostgreSQL on private ports

test-quick: ## the inner loop: the services' unit and package tests against real Redis/PostgreSQL, no race detector (≈1–2 min)
	@eval "$$(hack/testenv.sh up)" && go test -count=1 -timeout 10m ./services/...

test-go: ## Go tests with the race detector against real Redis/PostgreSQL
	@eval "$$(hack/testenv.sh up)" && go test -race -count=1 -timeout 20m ./...

lint: vuln ## gofmt, go vet, staticcheck, shellcheck, govulncheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	"$$(hack/tools.sh staticcheck)" ./...
	@command -v shellcheck >/dev/null || { . hack/lib.sh && apt_install shellcheck; }
	shellcheck -x $$(git ls-files '*.sh' .ci/run)

vuln: ## govulncheck against the offline vulnerability database
	@db=$$(go mod download -json $(VULNDB) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  "$$(hack/tools.sh govulncheck)" -db "file://$$db/data/osv" ./...

clean: ## remove build output and local service data (.data/)
	-hack/testenv.sh down
	-hack/docker.sh down
	rm -rf bin .data

