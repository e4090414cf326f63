#!/usr/bin/env bash
# Starts every service the tests need that Pombo's scripts launch (Kafka, ElasticMQ, the Pusher
# test server), in parallel. Locally a service that cannot start only warns (its tests then skip
# with the reason); under CI=true it fails the run.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
logs="$(mktemp -d)"
pids=()
for name in kafka sqs pusher; do
  "$here/$name.sh" >"$logs/$name.log" 2>&1 &
  pids+=("$!:$name")
done
failed=0
for entry in "${pids[@]}"; do
  pid="${entry%%:*}" name="${entry#*:}"
  if wait "$pid"; then
    tail -n 1 "$logs/$name.log"
  else
    echo "could not start $name:" >&2
    tail -n 20 "$logs/$name.log" >&2
    failed=1
  fi
done
rm -rf "$logs"
if [ "$failed" = 1 ] && [ "${CI:-}" = "true" ]; then exit 1; fi
exit 0
