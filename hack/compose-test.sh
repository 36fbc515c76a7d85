#!/usr/bin/env bash
# `make test-compose`: the committed docker-compose.yml, for real.
#
#   1. the images from `make image` (tag $VERSION), a local Docker engine and
#      the Compose v2 plugin (hack/docker.sh, hack/tools.sh docker-compose);
#   2. an override file, written here and never committed, that
#      - publishes every port on 127.0.0.1 only, on free ports chosen here,
#      - keeps PostgreSQL's and Redis' data in named volumes (removed by
#        `down -v`) instead of ./.docker,
#      - and, only when postgres:16-alpine / redis:7-alpine cannot be
#        pulled, swaps in the stand-ins from `hack/images.sh services`;
#   3. `docker compose up --wait`: healthchecks green, the migrate one-shot
#      exited 0, the ingress and worker /ready;
#   4. the Go load runner (seed profile scaled by COMPOSE_TEST_SCALE, default
#      0.2 = 60 s, up to 500 VUs) against the published ingress port, with
#      `docker compose restart worker` in the middle; its audit must find
#      rows == accepted, lost 0;
#   5. `docker compose down -v`, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
. hack/lib.sh

VERSION=${VERSION:?VERSION (the image tag) is required; run make test-compose}
export VERSION
SCALE=${COMPOSE_TEST_SCALE:-0.2}
PROJECT=${COMPOSE_TEST_PROJECT:-webhook-ingestor-composetest}
DIR=.data/compose-test
mkdir -p "$DIR"

DOCKER=$(hack/docker.sh up)
export DOCKER DOCKER_BUILDKIT=1
# The plugin, where every docker CLI looks for it.
plugin=$(hack/tools.sh docker-compose)
mkdir -p "$HOME/.docker/cli-plugins"
ln -sf "$plugin" "$HOME/.docker/cli-plugins/docker-compose"
"$DOCKER" compose version >/dev/null || die "docker compose does not run ($plugin)"

# free_port: a TCP port nothing listens on (the engine binds it right after).
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((40000 + RANDOM % 20000))
    port_open 127.0.0.1 "$p" || { echo "$p"; return; }
  done
  die "no free port found"
}
HTTP_PORT=$(free_port) INGRESS_OPS=$(free_port) WORKER_OPS=$(free_port) PG_PORT=$(free_port) REDIS_PORT=$(free_port)

# Images: the stand-ins only where the real ones cannot be pulled.
declare -A img
while IFS='=' read -r name ref; do img[$name]=$ref; done < <(DOCKER=$DOCKER hack/images.sh services)

OVERRIDE=$DIR/override.yml
cat >"$OVERRIDE" <<EOF
# Written by hack/compose-test.sh; not committed. Loopback-only ports,
# named volumes (removed by down -v), and image stand-ins where needed.
services:
  postgres:
    image: ${img[postgres]}
    ports: !override
      - "127.0.0.1:$PG_PORT:5432"
    volumes: !override
      - pgdata:/var/lib/postgresql/data
  redis:
    image: ${img[redis]}
    ports: !override
      - "127.0.0.1:$REDIS_PORT:6379"
    volumes: !override
      - redisdata:/data
  worker:
    ports: !override
      - "127.0.0.1:$WORKER_OPS:9091"
  ingress:
    ports: !override
      - "127.0.0.1:$HTTP_PORT:8080"
      - "127.0.0.1:$INGRESS_OPS:9090"
volumes:
  pgdata: {}
  redisdata: {}
EOF

compose() { "$DOCKER" compose -p "$PROJECT" -f docker-compose.yml -f "$OVERRIDE" "$@"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $rc -ne 0 ]]; then
    compose ps -a >&2 || true
    compose logs --no-color --tail 50 >"$DIR/compose.log" 2>&1 || true
    log "FAILED; the last 50 log lines of each service are in $DIR/compose.log"
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT INT TERM

log "images: postgres=${img[postgres]} redis=${img[redis]} app=webhook-ingestor/{ingress,worker}:$VERSION"
start=$(date +%s)
compose up -d --wait --no-build --wait-timeout 180
log "compose up --wait: $(($(date +%s) - start)) s"

# Every long-running service is healthy or running; migrate ran and exited 0.
fail=0
for svc in postgres redis; do
  h=$("$DOCKER" inspect --format '{{.State.Health.Status}}' "$(compose ps -q "$svc")")
  [[ $h == healthy ]] || { log "$svc health: $h"; fail=1; }
done
mig=$(compose ps -a -q migrate)
read -r status code < <("$DOCKER" inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$mig")
[[ $status == exited && $code == 0 ]] || { log "migrate one-shot: $status, exit $code"; fail=1; }
"$DOCKER" logs "$mig" 2>&1 | grep -q '"migrations applied"' || { log "migrate did not log \"migrations applied\""; fail=1; }
for p in "$INGRESS_OPS" "$WORKER_OPS"; do
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p" && printf 'GET /ready HTTP/1.0\r\n\r\n' >&3 && head -1 <&3 | grep -q ' 200 ') 2>/dev/null && break
    sleep 0.2
  done || true
  (exec 3<>"/dev/tcp/127.0.0.1/$p" && printf 'GET /ready HTTP/1.0\r\n\r\n' >&3 && head -1 <&3 | grep -q ' 200 ') 2>/dev/null \
    || { log "/ready on 127.0.0.1:$p is not 200"; fail=1; }
done
[[ $fail == 0 ]] || die "the stack is not healthy"
log "healthchecks green (postgres, redis), migrate exited 0, ingress and worker /ready 200"

go build -o bin/ ./loadtest
# Seed profile: 5 min at scale 1; the worker restarts at 40 % of it, in the
# 500-VU plateau's ramp.
duration=$(awk -v s="$SCALE" 'BEGIN { printf "%d", 300 * s }')
bin/loadtest -profile seed -scale "$SCALE" -p95 0 -drain-timeout 3m \
  -target "http://127.0.0.1:$HTTP_PORT" \
  -redis "127.0.0.1:$REDIS_PORT" \
  -database-url "postgres://postgres:postgres@127.0.0.1:$PG_PORT/webhooks?sslmode=disable" \
  -ingress-metrics "http://127.0.0.1:$INGRESS_OPS/metrics" \
  -worker-metrics "http://127.0.0.1:$WORKER_OPS/metrics" >"$DIR/loadtest.log" 2>&1 &
lt=$!
sleep $((duration * 2 / 5))
log "docker compose restart worker (mid-load)"
rs=$(date +%s)
compose restart worker >/dev/null
log "worker restarted in $(($(date +%s) - rs)) s"
rc=0
wait "$lt" || rc=$?
cat "$DIR/loadtest.log"
[[ $rc == 0 ]] || die "load run or audit failed (exit $rc)"
grep -Eq 'lost=0( |$)' "$DIR/loadtest.log" || die "the audit did not report lost=0"
log "PASS: compose stack up, load with a worker restart, audit rows == accepted ($(($(date +%s) - start)) s)"
