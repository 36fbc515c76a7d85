#!/usr/bin/env bash
# Shared functions for hack/run.sh and hack/testenv.sh: find or install Redis and
# PostgreSQL, and start private instances of them from local binaries.
# Source it; it defines functions only.

log() { printf '%s %s\n' "[$(basename "$0")]" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# apt_install PKG...: install Debian packages when we may (root + apt-get).
apt_install() {
  command -v apt-get >/dev/null || die "missing $*: install it with your package manager"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
  log "installing $* with apt-get (once per machine)"
  "${sudo[@]}" apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "could not install $*; install it yourself and re-run"
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  command -v redis-server >/dev/null || die "redis-server not found after install"
}

# pg_bindir prints the directory holding initdb/pg_ctl, installing PostgreSQL if needed.
pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb ]] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  apt_install postgresql >&2
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb ]] && { echo "$d"; return; }
  done
  die "PostgreSQL binaries not found after install"
}

# stop_pids PID...: stop the processes a script started (by PID, nothing
# else) and wait for them.
stop_pids() {
  local pid
  for pid in "$@"; do
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
}

# wait_port HOST PORT WHAT: wait up to 30 s for a listener.
wait_port() {
  local _
  for _ in $(seq 1 300); do
    port_open "$1" "$2" && return 0
    sleep 0.1
  done
  die "$3 did not come up on $1:$2 within 30 s"
}

# start_redis PORT DIR [ADDR]: Redis with AOF (appendfsync everysec) on
# ADDR:PORT (default 127.0.0.1), data in DIR, daemonised; its PID is in
# DIR/redis.pid. A non-loopback ADDR (the real node's address, for pods) turns
# protected mode off: there is no password, and ADDR is on an interface the
# caller created.
start_redis() {
  local port=$1 dir=$2 addr=${3:-127.0.0.1}
  ensure_redis
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local extra=()
  [[ $addr == 127.0.0.1 ]] || extra=(--protected-mode no)
  redis-server --daemonize yes --bind "$addr" --port "$port" --dir "$dir" "${extra[@]}" \
    --appendonly yes --appendfsync everysec --save '' --databases 64 \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  wait_port "$addr" "$port" "Redis"
  log "Redis up on $addr:$port (AOF on, data in $dir)"
}

stop_redis() {
  local dir=$1 pid
  [[ -f $dir/redis.pid ]] || return 0
  pid=$(<"$dir/redis.pid")
  kill "$pid" 2>/dev/null && log "stopped Redis (pid $pid)"
  rm -f "$dir/redis.pid"
}

# as_pg CMD...: PostgreSQL refuses to run as root; use the postgres user then.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_datadir DIR: where PostgreSQL data for DIR lives. As root, the server runs
# as the postgres user, which may not be able to reach a folder under a
# private home or CI directory; then a folder under /tmp stands in for it.
pg_datadir() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ $(id -u) -eq 0 ]] && ! as_pg test -x "$dir"; then
    dir=${TMPDIR:-/tmp}/webhook-ingestor-pg/$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
    mkdir -p "$dir"
    chmod 755 "$(dirname "$dir")"
  fi
  echo "$dir"
}

# start_postgres PORT DIR [ADDR [CIDR]]: a throwaway cluster (trust auth, user
# postgres) on ADDR:PORT (default 127.0.0.1) with data in DIR (see pg_datadir),
# tuned for tests and local runs. ADDR itself and CIDR (e.g. a pod network)
# are trusted too.
start_postgres() {
  local port=$1 dir bin addr=${3:-127.0.0.1} cidr=${4:-}
  dir=$(pg_datadir "$2")
  bin=$(pg_bindir)
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres: "$dir"
  fi
  if [[ ! -f $dir/PG_VERSION ]]; then
    as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-sync >/dev/null \
      || die "initdb failed in $dir"
  fi
  # initdb trusts only loopback: add the listen address itself (a client on
  # the same host connects from it) and CIDR.
  local net
  for net in "$addr/32" $cidr; do
    grep -q "^host all all $net trust" "$dir/pg_hba.conf" || echo "host all all $net trust" >>"$dir/pg_hba.conf"
  done
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 30 start \
    -o "-c listen_addresses=$addr -p $port -c unix_socket_directories='' -c max_connections=200 -c fsync=${PG_FSYNC:-on}" >/dev/null \
    || die "PostgreSQL did not start; see $dir/postgres.log"
  wait_port "$addr" "$port" "PostgreSQL"
  log "PostgreSQL up on $addr:$port (data in $dir)"
}

stop_postgres() {
  local dir bin
  dir=$(pg_datadir "$1")
  [[ -f $dir/postmaster.pid ]] || return 0
  bin=$(pg_bindir)
  as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null && log "stopped PostgreSQL ($dir)"
}
