#!/usr/bin/env bash
# Test services on their own ports, never the user's data:
#   hack/testenv.sh up    start Redis on 127.0.0.1:56379 and PostgreSQL on
#                         127.0.0.1:55432 (data in .data/test/<ports>/) unless they
#                         already answer; install node/npm when missing (the
#                         provider tests need them); print the variables the tests read
#   hack/testenv.sh down  stop what `up` started
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
. hack/lib.sh

REDIS_PORT=${TEST_REDIS_PORT:-56379}
PG_PORT=${TEST_PG_PORT:-55432}
# One data directory per pair of ports: two pairs never share a data dir.
DIR=${TEST_DATA_DIR:-.data/test/$REDIS_PORT-$PG_PORT}

case ${1:-} in
  up)
    port_open 127.0.0.1 "$REDIS_PORT" || start_redis "$REDIS_PORT" "$DIR/redis"
    # Tests recreate their databases, so durability buys nothing here.
    port_open 127.0.0.1 "$PG_PORT" || PG_FSYNC=off start_postgres "$PG_PORT" "$DIR/postgres"
    # The provider-preset tests sign with the providers' own npm libraries
    # (services/internal/testenv/providerlib); they install them with npm ci.
    command -v npm >/dev/null || apt_install nodejs npm
    echo "export TEST_REDIS_ADDR=127.0.0.1:$REDIS_PORT"
    echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
    ;;
  down)
    stop_redis "$DIR/redis"
    stop_postgres "$DIR/postgres"
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
