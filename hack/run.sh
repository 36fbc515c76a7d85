#!/usr/bin/env bash
# `make run`: the whole stack on this machine, in the foreground.
# Uses Redis and PostgreSQL where REDIS_ADDR / DATABASE_URL point when they
# answer; otherwise starts them from local binaries with data in .data/run/
# (installing redis-server / postgresql with apt when missing). Then applies
# migrations and runs bin/ingress and bin/worker with their logs. Both read
# the usual variables from the environment; their ops ports are set with
# INGRESS_OPS_ADDR and WORKER_OPS_ADDR here, since both call it OPS_ADDR. Ctrl-C stops
# everything this script started, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
. hack/lib.sh

export REDIS_ADDR=${REDIS_ADDR:-localhost:6379}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@localhost:5432/webhooks?sslmode=disable}
export HTTP_ADDR=${HTTP_ADDR:-:8080}
DIR=${RUN_DATA_DIR:-.data/run}

# host_port URL-or-ADDR: print "host port" of a host:port or a postgres URL.
host_port() {
  local a=$1
  a=${a#*://}; a=${a#*@}; a=${a%%/*}; a=${a%%\?*}
  local host=${a%:*} port=${a##*:}
  [[ $host == "$a" ]] && port=$2
  [[ $host == localhost || -z $host ]] && host=127.0.0.1
  echo "$host $port"
}

started=()
cleanup() {
  trap - EXIT INT TERM
  stop_pids "${pids[@]:-}"
  for what in "${started[@]:-}"; do
    case $what in
      redis) stop_redis "$DIR/redis" ;;
      postgres) stop_postgres "$DIR/postgres" ;;
    esac
  done
}
pids=()
trap cleanup EXIT INT TERM

read -r rhost rport <<<"$(host_port "$REDIS_ADDR" 6379)"
if port_open "$rhost" "$rport"; then
  log "using the Redis that answers on $rhost:$rport"
else
  [[ $rhost == 127.0.0.1 ]] || die "Redis at $REDIS_ADDR does not answer"
  start_redis "$rport" "$DIR/redis"; started+=(redis)
fi

read -r phost pport <<<"$(host_port "$DATABASE_URL" 5432)"
if port_open "$phost" "$pport"; then
  log "using the PostgreSQL that answers on $phost:$pport"
else
  [[ $phost == 127.0.0.1 ]] || die "PostgreSQL at $DATABASE_URL does not answer"
  start_postgres "$pport" "$DIR/postgres"; started+=(postgres)
fi

log "building bin/ingress and bin/worker"
go build -o bin/ ./services/...
bin/worker migrate -create-database

export DB_MIGRATE=false # just done
export DRAIN_DELAY=${DRAIN_DELAY:-0s} # no load balancer to wait for here
# The worker runs at a lower CPU priority: during a spike the ingress must
# answer fast and the queue absorbs the rest (see loadtest/README.md).
OPS_ADDR=${WORKER_OPS_ADDR:-:9091} nice -n 10 bin/worker & pids+=($!)
OPS_ADDR=${INGRESS_OPS_ADDR:-:9090} bin/ingress & pids+=($!)
log "ingress on ${HTTP_ADDR:-:8080} (ops ${INGRESS_OPS_ADDR:-:9090}), worker ops on ${WORKER_OPS_ADDR:-:9091}; Ctrl-C stops everything"
log "try: curl -i -X POST localhost:${HTTP_ADDR##*:}/webhooks/demo -H 'Content-Type: application/json' -d '{\"eventId\":\"evt-1\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{}}'"
wait -n "${pids[@]}"
