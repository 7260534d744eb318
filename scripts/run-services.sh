#!/usr/bin/env bash
# Runs the processor and the requestor in the foreground with prefixed logs. Ctrl-C (or SIGTERM)
# is forwarded to both; each shuts down gracefully. The infrastructure keeps running: stop it
# with `make infra-down`.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# Without AUTH_MODE (and its keys) in the environment, the local stack runs without
# authentication, still bound to 127.0.0.1; `AUTH_MODE=jwt AUTH_JWT_SECRET=… make run` is the
# secured one (README, "Security").
if [ -z "${AUTH_MODE:-}" ]; then
  export AUTH_MODE=disabled
  echo "[run] AUTH_MODE=disabled: no authentication, anyone reaching 127.0.0.1 may act as anyone (AUTH_MODE=jwt AUTH_JWT_SECRET=... make run to secure it)"
fi

# The archive of the local stack (PostgreSQL, started by `make infra-up`): finished orders move
# there after ORDER_RETENTION_SECONDS. DATABASE_URL= (empty) runs without it.
export DATABASE_URL="${DATABASE_URL-postgres://dcent@127.0.0.1:${POSTGRES_PORT:-5432}/dcent}"
# KAFKA_BROKERS=3 (the local 3-broker Kafka of infra/local/stack.sh, which remembers the number
# in its data directory): unless set otherwise, the services get every broker in BROKER_URL and
# create the topics with 3 replicas (and min.insync.replicas=2), see docs/replicated-kafka.md.
KAFKA_BROKERS="${KAFKA_BROKERS:-$(cat "${DCENT_LOCAL_DIR:-infra/local/.run}/data/kafka-brokers" 2>/dev/null || echo 1)}"
if [ "$KAFKA_BROKERS" -gt 1 ] && [ -z "${BROKER_URL:-}" ]; then
  brokers=""
  for ((node = 1; node <= KAFKA_BROKERS; node++)); do
    brokers="${brokers:+$brokers,}127.0.0.1:$((${KAFKA_PORT:-9092} + 2 * (node - 1)))"
  done
  export BROKER_URL="kafka://$brokers"
  export KAFKA_REPLICATION_FACTOR="${KAFKA_REPLICATION_FACTOR:-$((KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3))}"
  echo "[run] KAFKA_BROKERS=$KAFKA_BROKERS: BROKER_URL=$BROKER_URL KAFKA_REPLICATION_FACTOR=$KAFKA_REPLICATION_FACTOR"
fi

pids=()
start() {
  local name=$1 entry=$2
  # Line-buffered prefixing so the two services' logs stay readable side by side.
  node "$entry" > >(sed -u "s/^/[$name] /") 2> >(sed -u "s/^/[$name] /" >&2) &
  pids+=($!)
}

stop() {
  trap - INT TERM
  echo "[run] stopping services..."
  kill -TERM "${pids[@]}" 2>/dev/null
  wait "${pids[@]}" 2>/dev/null
  echo "[run] services stopped; infrastructure still running (make infra-down stops it)"
  exit 0
}
trap stop INT TERM

start processor processor/src/main.ts
start requestor requestor/src/main.ts
echo "[run] processor http://127.0.0.1:${PROCESSOR_HTTP_PORT:-8001} (gRPC :${GRPC_SERVER_PORT:-50051}), requestor http://127.0.0.1:${REQUESTOR_HTTP_PORT:-8000} — Ctrl-C to stop"

# If one service exits on its own (e.g. bad configuration), stop the other and report it.
wait -n "${pids[@]}"
status=$?
kill -TERM "${pids[@]}" 2>/dev/null
wait "${pids[@]}" 2>/dev/null
if [ "$status" -eq 0 ]; then
  echo "[run] services stopped; infrastructure still running (make infra-down stops it)"
else
  echo "[run] a service exited with status $status"
fi
exit "$status"
