# Fuzzing of the parsers that face the internet. `make test` runs a
# short pass of each target; the committed seed corpora under
# <package>/testdata/fuzz/ also run as plain tests in every `go test`.

FUZZTIME ?= 3s
FUZZ_TARGETS := \
	./services/internal/signature:FuzzParseStripeHeader \
	./services/internal/signature:FuzzParseStandardSignatures \
	./services/internal/signature:FuzzParseGitHubHeader \
	./services/internal/signature:FuzzParseHMACHeader \
	./services/internal/signature:FuzzVerify \
	./services/internal/jsonguard:FuzzCheck \
	./services/internal/jsonguard:FuzzCheckAgreesWithValid \
	./services/internal/job:FuzzDecode \
	./services/internal/ingest:FuzzDecodeEnvelope \
	./services/internal/ingest:FuzzValidFastPath \
	./services/ingress:FuzzReadBody

.PHONY: fuzz
fuzz: ## fuzz every internet-facing parser for FUZZTIME each (default 3s; e.g. FUZZTIME=2m)
	@set -euo pipefail; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz: $$fn in $$pkg for $(FUZZTIME)"; \
		out=$$(go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$pkg" 2>&1) || \
			{ echo "$$out"; echo "fuzz: $$fn failed (the crasher is in $$pkg/testdata/fuzz/$$fn)"; exit 1; }; \
	done

TEST_EXTRA += fuzz
