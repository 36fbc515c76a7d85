# shellcheck shell=bash
# shellcheck disable=SC2154 # dir is set by the sourcing script
# Process helpers shared by cluster.sh and node.sh. Each process runs detached
# with its log in $dir/logs/NAME.log and its PID in $dir/pids/NAME; the caller
# sets `dir` and defines `log`.

# wait_for DESC SECONDS COMMAND...: retry COMMAND every 0.2 s; on timeout show
# the last log lines and fail.
wait_for() {
  local desc=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$desc not ready after ${secs}s; last log lines:"
      tail -n 30 "$dir"/logs/*.log >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# start NAME COMMAND...: run detached (own session), record the PID.
start() {
  local name=$1
  shift
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name"
}

# stop_pid_file NAME: SIGTERM the recorded PID, SIGKILL after 20 s, forget it.
stop_pid_file() {
  local name=$1 pid
  [[ -f $dir/pids/$name ]] || return 0
  pid=$(cat "$dir/pids/$name")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name ($pid) ignored SIGTERM; killing"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$dir/pids/$name"
}
