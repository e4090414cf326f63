#!/usr/bin/env bash
# Stop a service started by scripts/services/<name>.sh, by its pid file.
#
# usage: scripts/services/stop.sh <kafka|sqs|pusher|all> [--kill]
#   --kill   SIGKILL at once (a crash, for outage tests) instead of a clean stop
#
# Data is kept: Kafka restarts with the same cluster id, topics and offsets;
# the Pusher test server keeps its generated secret. (ElasticMQ is in-memory:
# its queues are gone after a stop.) Exits 0 whether or not it was running.
set -euo pipefail

# shellcheck disable=SC2034 # used by log() in _lib.sh
SERVICE_NAME=stop
# shellcheck source-path=SCRIPTDIR source=_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

usage() {
  echo "usage: $0 <kafka|sqs|pusher|all> [--kill]" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
name=$1
sig=TERM
grace=30
if [[ ${2:-} == --kill ]]; then
  sig=KILL
  grace=5
elif [[ -n ${2:-} ]]; then
  usage
fi

stop_one() {
  local svc=$1 pidfile port
  case $svc in
    kafka) pidfile="$SERVICES_ROOT/kafka/kafka.pid" port="${KAFKA_PORT:-9092}" ;;
    sqs) pidfile="$SERVICES_ROOT/sqs/elasticmq.pid" port="${SQS_PORT:-9324}" ;;
    pusher) pidfile="$SERVICES_ROOT/pusher/pusher.pid" port="${PUSHER_PORT:-6001}" ;;
    *) usage ;;
  esac
  SERVICE_NAME=$svc
  # Same lock as the launcher, so a stop never races a start.
  take_lock "$(dirname "$pidfile")"
  if stop_pidfile "$pidfile" "$grace" "$sig"; then
    # wait for the port to be released so that a following start is clean
    for _ in $(seq 1 50); do
      port_open 127.0.0.1 "$port" || break
      sleep 0.1
    done
    echo "$svc stopped"
  else
    if port_open 127.0.0.1 "$port"; then
      log "no live pid file, but 127.0.0.1:$port still answers (not started by these scripts?)"
    fi
    echo "$svc not running"
  fi
  exec 9>&-
}

if [[ $name == all ]]; then
  for s in pusher sqs kafka; do stop_one "$s"; done
else
  stop_one "$name"
fi
