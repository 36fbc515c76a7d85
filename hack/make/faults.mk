# Fault-injection suite (loadtest/faults, build tag `faults`): kills, restarts
# and starves Redis, PostgreSQL, the ingress and the worker under load, then
# audits "accepted = N, rows = N, lost = 0, duplicates = 0".
# The tests start their own Redis (AOF) and PostgreSQL on random loopback
# ports; hack/lib.sh installs redis-server/postgresql through apt if missing.
# FAULTS_RUN selects scenarios (a go test -run regexp), e.g.
#   make test-faults FAULTS_RUN=TestRedisDown

FAULTS_RUN ?= .
FAULTS_FLAGS ?=
FAULTS_LOG ?= $(CURDIR)/.data/faults/test-faults.log

define faults_go_test
	@mkdir -p "$(dir $(FAULTS_LOG))" && source hack/lib.sh && ensure_redis && export PG_BIN="$$(pg_bindir)" && \
	go build -o bin/ ./services/... && \
	FAULTS_BIN_DIR="$(CURDIR)/bin" go test -tags faults -count=1 -p 1 -v $(1) \
	  -run '$(FAULTS_RUN)' $(FAULTS_FLAGS) ./loadtest/faults/ 2>&1 \
	  | tee "$(FAULTS_LOG)" \
	  | grep -E --line-buffered '^(=== RUN|--- |PASS|FAIL|ok |panic)|^    [a-z_]+_test\.go:[0-9]+:' ; \
	rc="$${PIPESTATUS[0]}"; \
	[[ $$rc -eq 0 ]] || echo "faults: FAILED; the full log with process logs is $(FAULTS_LOG)"; \
	exit "$$rc"
endef

.PHONY: test-faults test-faults-short
test-faults: ## fault-injection suite at full length (8 scenarios, ≈9 min; FAULTS_RUN=regexp picks)
	$(call faults_go_test,-timeout 60m)

test-faults-short: ## fault-injection suite with shortened durations (runs in make test)
	$(call faults_go_test,-short -parallel 3 -timeout 20m)

TEST_EXTRA += test-faults-short
