#!/usr/bin/env bash
# A local Docker engine for `make image` and `make test-compose`:
#   hack/docker.sh up    install Debian's docker.io when dockerd is missing,
#                        start dockerd unless one already answers, and print
#                        the path of a docker CLI that builds with BuildKit
#   hack/docker.sh down  stop the dockerd that `up` started (by its PID), if any
#   hack/docker.sh cli   print that CLI path only (the engine must be up)
#
# Like hack/testenv.sh, `up` leaves the engine running for the next target;
# `make clean` (or `hack/docker.sh down`) stops it. A dockerd somebody else
# started is used and never stopped.
#
# Which CLI: the Dockerfile needs BuildKit (cache mounts). A docker CLI with the
# buildx plugin builds with it; without buildx, CLIs from 23 on refuse
# DOCKER_BUILDKIT=1, while Debian's 20.10 CLI (/usr/bin/docker, from docker.io)
# drives the engine's built-in BuildKit directly. So: `docker` when it has
# buildx, else Debian's. Callers export DOCKER_BUILDKIT=1.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lib.sh
. hack/lib.sh

DIR=${DOCKER_STATE_DIR:-.data/docker}
SOCK=/var/run/docker.sock

engine_up() { [[ -S $SOCK ]] && "$(pick_cli)" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

pick_cli() {
  if command -v docker >/dev/null && docker buildx version >/dev/null 2>&1; then
    command -v docker
  elif [[ -x /usr/bin/docker ]]; then
    echo /usr/bin/docker
  else
    command -v docker || echo docker
  fi
}

up() {
  command -v dockerd >/dev/null || [[ -x /usr/sbin/dockerd ]] || apt_install docker.io
  [[ -x /usr/bin/docker ]] || command -v docker >/dev/null || apt_install docker.io
  if engine_up; then
    pick_cli
    return
  fi
  local sudo=() dockerd
  [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
  dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
  mkdir -p "$DIR"
  # setsid: the engine outlives this script and make's process group.
  setsid "${sudo[@]}" "$dockerd" --host "unix://$SOCK" >"$DIR/dockerd.log" 2>&1 < /dev/null &
  echo $! >"$DIR/dockerd.pid"
  local _
  for _ in $(seq 1 300); do
    engine_up && break
    kill -0 "$(<"$DIR/dockerd.pid")" 2>/dev/null || { tail -20 "$DIR/dockerd.log" >&2; rm -f "$DIR/dockerd.pid"; die "dockerd exited; log in $DIR/dockerd.log"; }
    sleep 0.1
  done
  engine_up || die "dockerd did not answer within 30 s; log in $DIR/dockerd.log"
  log "dockerd up (pid $(<"$DIR/dockerd.pid"), log in $DIR/dockerd.log)"
  pick_cli
}

down() {
  [[ -f $DIR/dockerd.pid ]] || return 0
  local pid _
  pid=$(<"$DIR/dockerd.pid")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    log "stopped dockerd (pid $pid)"
  fi
  rm -f "$DIR/dockerd.pid"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  cli) pick_cli ;;
  *) echo "usage: $0 up|down|cli" >&2; exit 2 ;;
esac
