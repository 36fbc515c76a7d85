#!/usr/bin/env bash
# `make loadtest-ci`: a short load run with the full audit against a stack
# this script starts itself on private ports, so it can run in `make test`:
# the test Redis/PostgreSQL from hack/testenv.sh (Redis database 0, which
# the Go tests never use; PostgreSQL database loadtest_ci), bin/ingress and
# bin/worker on LOADTEST_CI_PORT..+2. It stops what it started, by PID.
#   LOADTEST_CI_ARGS  flags for the runner (default: the smoke profile)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
. hack/lib.sh

PORT=${LOADTEST_CI_PORT:-58080}
LOGS=.data/loadtest-ci
mkdir -p "$LOGS"

eval "$(hack/testenv.sh up)"
export REDIS_ADDR=$TEST_REDIS_ADDR REDIS_DB=0
export DATABASE_URL=${TEST_DATABASE_URL/\/postgres\?/\/loadtest_ci?}

log "building bin/ingress, bin/worker and bin/loadtest"
go build -o bin/ ./services/... ./loadtest
bin/worker migrate -create-database

pids=()
cleanup() {
  trap - EXIT INT TERM
  stop_pids "${pids[@]:-}"
}
trap cleanup EXIT INT TERM

export DB_MIGRATE=false LOG_LEVEL=warn
OPS_ADDR=127.0.0.1:$((PORT + 2)) bin/worker >"$LOGS/worker.log" 2>&1 & pids+=($!)
HTTP_ADDR=127.0.0.1:$PORT OPS_ADDR=127.0.0.1:$((PORT + 1)) bin/ingress >"$LOGS/ingress.log" 2>&1 & pids+=($!)
wait_port 127.0.0.1 "$PORT" "the ingress"
wait_port 127.0.0.1 "$((PORT + 2))" "the worker"

# shellcheck disable=SC2086 # LOADTEST_CI_ARGS is a list of flags
if ! bin/loadtest -target "http://127.0.0.1:$PORT" \
  -ingress-metrics "http://127.0.0.1:$((PORT + 1))/metrics" \
  -worker-metrics "http://127.0.0.1:$((PORT + 2))/metrics" \
  -drain-timeout 2m ${LOADTEST_CI_ARGS:--profile smoke -dup 0.05}; then
  log "loadtest-ci FAILED; service logs in $LOGS/"
  exit 1
fi
