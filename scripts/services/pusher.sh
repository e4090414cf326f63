#!/usr/bin/env bash
# Start a Pusher-protocol test server on 127.0.0.1:${PUSHER_PORT:-6001}.
#
# soketi (@soketi/soketi) was tried first: its dependency uWebSockets.js is
# fetched from GitHub by npm, which this machine cannot reach, so the install
# fails at once. Instead this runs scripts/services/pusher-server.mjs (node
# built-ins only): Pusher's HTTP trigger API (POST /apps/:id/events and
# /batch_events) with Pusher's request signing checks, and it records what was
# triggered (GET/DELETE /_recorded); pusher-js clients can subscribe to public
# channels over WebSocket. See the header of pusher-server.mjs.
#
# Idempotent: if it already answers, prints its address and exits 0 (a running
# server keeps the apps it was started with; stop.sh pusher first to change).
# Prints the default app's credentials, then, as its last line:
#   pusher http://127.0.0.1:6001
#
# Env:
#   POMBO_SERVICES_DIR  cache root (default ~/.cache/pombo-services)
#   PUSHER_PORT         default 6001
#   PUSHER_TEST_APPS    "appId:key:secret,..." (default: pombo-test:pombo-key:<secret>,
#                       the secret generated once into $POMBO_SERVICES_DIR/pusher/secret)
#   PUSHER_START_TIMEOUT seconds to wait (default 20)
set -euo pipefail

# shellcheck disable=SC2034 # used by log() in _lib.sh
SERVICE_NAME=pusher
# shellcheck source-path=SCRIPTDIR source=_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

HOST=127.0.0.1
PORT="${PUSHER_PORT:-6001}"
TIMEOUT="${PUSHER_START_TIMEOUT:-20}"
DIR="$SERVICES_ROOT/pusher"
PIDFILE="$DIR/pusher.pid"
LOGFILE="$DIR/pusher.log"
SECRET_FILE="$DIR/secret"
URL="http://$HOST:$PORT"
SERVER="$SERVICES_SCRIPTS_DIR/pusher-server.mjs"

is_ready() {
  port_open "$HOST" "$PORT" || return 1
  curl -fsS -m 2 "$URL/_health" 2>/dev/null | grep -q '"ok":true'
}

done_ok() {
  if [[ -z ${PUSHER_TEST_APPS:-} && -s $SECRET_FILE ]]; then
    echo "pusher app_id=pombo-test key=pombo-key secret=$(<"$SECRET_FILE") (secret file: $SECRET_FILE)"
  fi
  echo "pusher $URL"
  exit 0
}

command -v node >/dev/null 2>&1 || die "node not found"
command -v curl >/dev/null 2>&1 || die "curl not found"
take_lock "$DIR"

exit_if_running "the Pusher test server" 0

if ! pid_alive "$PIDFILE"; then
  if [[ -z ${PUSHER_TEST_APPS:-} && ! -s $SECRET_FILE ]]; then
    (umask 077 && head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRET_FILE" && echo >>"$SECRET_FILE")
  fi
  if [[ -f $LOGFILE ]] && (($(stat -c %s "$LOGFILE") > 20 * 1024 * 1024)); then
    mv -f "$LOGFILE" "$LOGFILE.old"
  fi
  echo "==== $(date -Is) starting pusher test server" >>"$LOGFILE"
  PUSHER_PORT="$PORT" PUSHER_SECRET_FILE="$SECRET_FILE" POMBO_SERVICES_DIR="$SERVICES_ROOT" \
    start_detached "$PIDFILE" "$LOGFILE" node "$SERVER"
  log "started pid $(<"$PIDFILE"), waiting for $URL (log: $LOGFILE)"
else
  log "pusher test server pid $(<"$PIDFILE") is starting, waiting for $URL"
fi

wait_until_ready "pusher test server" 0.1
