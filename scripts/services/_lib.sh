# shellcheck shell=bash disable=SC2034
# Shared helpers for the service launchers in scripts/services/.
# Sourced, not executed. Callers have `set -euo pipefail` on.

SERVICES_ROOT="${POMBO_SERVICES_DIR:-$HOME/.cache/pombo-services}"
SERVICES_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[%s] %s\n' "${SERVICE_NAME:-services}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# port_open HOST PORT -> 0 if a TCP connect succeeds within 1s.
port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# pid_alive PIDFILE -> 0 if the pid file names a live process.
pid_alive() {
  local pidfile=$1 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null
}

# take_lock DIR: serialise concurrent launches of the same service
# (e.g. two test files starting Kafka at once). The lock is released when the
# script exits (fd 9 closes).
take_lock() {
  local dir=$1
  mkdir -p "$dir"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$dir/.launch.lock"
    flock -w 600 9 || die "could not take lock $dir/.launch.lock within 600s"
  fi
}

# start_detached PIDFILE LOGFILE CMD... : start CMD in its own session,
# immune to the caller's SIGHUP/process-group kills, stdout+stderr to LOGFILE,
# and write the pid of CMD itself (exec'd, so no wrapper process) to PIDFILE.
start_detached() {
  local pidfile=$1 logfile=$2
  shift 2
  rm -f "$pidfile"
  # The inner shell writes its own pid, then execs the server, so the pid in
  # the file is the server's pid.
  # fd 9 (the launch lock) is closed so the server does not hold the lock.
  # shellcheck disable=SC2016 # $$ and $@ expand in the inner shell
  nohup setsid bash -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@" \
    >>"$logfile" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 1 50); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "process did not write its pid file $pidfile"
}

# show_log_tail LOGFILE [N]
show_log_tail() {
  local logfile=$1 n=${2:-60}
  if [[ -f $logfile ]]; then
    log "---- last $n lines of $logfile ----"
    tail -n "$n" "$logfile" >&2 || true
    log "---- end of log ----"
  else
    log "(no log file at $logfile)"
  fi
}

# stop_pidfile PIDFILE [GRACE_SECONDS] [SIGNAL]: TERM (or SIGNAL), wait, then KILL.
stop_pidfile() {
  local pidfile=$1 grace=${2:-30} sig=${3:-TERM} pid i
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 1
  fi
  pid=$(<"$pidfile")
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still alive after ${grace}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
  return 0
}

# java_bin: the java to use, checked to be 17 or newer.
java_bin() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java" ver
  command -v "$java" >/dev/null 2>&1 || die "java not found (need Java 17+)"
  ver=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [[ -n $ver && $ver -ge 17 ]] || die "need Java 17+, found: $("$java" -version 2>&1 | head -n1)"
  printf '%s\n' "$java"
}

# mvn_fetch_classpath DEST_DIR POM_CONTENT: resolve the pom's runtime
# dependencies from Maven Central into DEST_DIR (jars). Skipped when DEST_DIR
# is already complete. The pom is kept next to it for reference.
mvn_fetch_classpath() {
  local dest=$1 pom=$2 tmp
  if [[ -f $dest/.complete ]] && cmp -s "$dest/pom.xml" <(printf '%s\n' "$pom"); then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (needed once to fetch jars from Maven Central)"
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp/jars"
  printf '%s\n' "$pom" >"$tmp/pom.xml"
  log "resolving jars with Maven into $dest (first run only)"
  if ! mvn -B -q -f "$tmp/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$tmp/jars" -DincludeScope=runtime >"$tmp/mvn.log" 2>&1; then
    tail -n 40 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed"
  fi
  touch "$tmp/.complete"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

# Exits through the caller's done_ok when its service already answers (is_ready); refuses a port
# held by a process this script did not start, after giving one that may still be starting
# `grace` half-seconds. Uses the caller's HOST, PORT and PIDFILE.
exit_if_running() {
  local what=$1 grace=${2:-20}
  is_ready && done_ok
  if ! pid_alive "$PIDFILE" && port_open "$HOST" "$PORT"; then
    for _ in $(seq 1 "$grace"); do
      is_ready && done_ok
      sleep 0.5
    done
    die "port $HOST:$PORT is taken by a process that is not $what (not started by this script)"
  fi
  return 0
}

# Waits up to TIMEOUT seconds for the caller's is_ready, then exits through done_ok; a process that
# dies while starting, or one still not ready at the deadline (then stopped), ends the script with
# its log tail. Uses the caller's PIDFILE, LOGFILE and TIMEOUT.
wait_until_ready() {
  local what=$1 poll=${2:-0.5}
  local deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    is_ready && done_ok
    if ! pid_alive "$PIDFILE"; then
      show_log_tail "$LOGFILE"
      rm -f "$PIDFILE"
      die "$what exited during startup"
    fi
    sleep "$poll"
  done
  show_log_tail "$LOGFILE"
  stop_pidfile "$PIDFILE" 10 || true
  die "$what was not ready within ${TIMEOUT}s (stopped it)"
}
