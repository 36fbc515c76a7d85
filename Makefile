# webhook-ingestor — `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# go.mod pins `toolchain go1.26.10` (1.26.8 has reachable stdlib CVEs); some
# machines ship GOTOOLCHAIN=local, which would ignore that line.
export GOTOOLCHAIN ?= auto

# Extra test suites contributed by hack/make/*.mk append themselves here.
TEST_EXTRA :=

-include hack/make/*.mk

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
