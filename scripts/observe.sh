#!/usr/bin/env bash
# Local observability without Docker: a real Prometheus scraping the services where `make run`
# starts them (127.0.0.1:8000 and :8001, observability/prometheus/prometheus.local.yml, with the
# alert rules) and Jaeger v2 receiving OTLP on 127.0.0.1:4317 (gRPC) and :4318 (HTTP), UI on :16686.
#
#   observe.sh up       start both (idempotent), print the URLs
#   observe.sh down     stop both (SIGTERM, wait, SIGKILL)
#   observe.sh status   one line each
#
# Binaries come from scripts/install-observability.sh (`make observe` runs it first). Both run
# detached (setsid + pidfile); data and logs live in observability/.run (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
OTLP_GRPC_PORT="${OTLP_GRPC_PORT:-4317}"
OTLP_HTTP_PORT="${OTLP_HTTP_PORT:-4318}"
JAEGER_UI_PORT="${JAEGER_UI_PORT:-16686}"
JAEGER_QUERY_GRPC_PORT="${JAEGER_QUERY_GRPC_PORT:-16685}"
START_TIMEOUT="${START_TIMEOUT:-60}"
STOP_TIMEOUT="${STOP_TIMEOUT:-20}"
BIN_DIR="${DCENT_CACHE_DIR:-$HOME/.cache/dcent}/bin"
RUN_DIR="$PWD/observability/.run"
PID_DIR="$RUN_DIR/pids"
LOG_DIR="$RUN_DIR/logs"
DATA_DIR="$RUN_DIR/data"
ALL=(prometheus jaeger)

log() { printf '[observe] %s\n' "$*"; }
die() { printf '[observe] ERROR: %s\n' "$*" >&2; exit 1; }

pid_file() { echo "$PID_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }
port_in_use() { [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# The pid from our pidfile if that process still runs the binary (guards against pid reuse).
running_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$1"* ]] && echo "$pid"
  return 0
}

# The port Prometheus listens on: from its pidfile's neighbour when running, else the first free
# one from PROMETHEUS_PORT (Debian's own prometheus service may hold 9090).
prometheus_port() {
  if [[ -n "$(running_pid prometheus)" && -f "$RUN_DIR/prometheus.port" ]]; then
    cat "$RUN_DIR/prometheus.port"
    return
  fi
  local port="$PROMETHEUS_PORT"
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}

binary() {
  local path
  for path in "$BIN_DIR/$1" "$(command -v "$1" 2>/dev/null || true)"; do
    [[ -n "$path" && -x "$path" ]] && { echo "$path"; return; }
  done
  die "$1 is not installed: run \`bash scripts/install-observability.sh\` (\`make observe\` does)"
}

wait_ready() {
  local name="$1" check="$2" deadline=$((SECONDS + START_TIMEOUT))
  until eval "$check"; do
    [[ -n "$(running_pid "$name")" ]] || die "$name exited while starting; its log ($(log_file "$name")):
$(tail -n 30 "$(log_file "$name")")"
    ((SECONDS < deadline)) || die "$name not ready after ${START_TIMEOUT}s; see $(log_file "$name")"
    sleep 0.3
  done
}

start_prometheus() {
  if [[ -n "$(running_pid prometheus)" ]]; then
    log "prometheus already running (pid $(running_pid prometheus)) on :$(prometheus_port)"
    return
  fi
  local port
  port="$(prometheus_port)"
  [[ "$port" == "$PROMETHEUS_PORT" ]] || log "port $PROMETHEUS_PORT is taken; Prometheus uses $port"
  mkdir -p "$DATA_DIR/prometheus"
  echo "$port" >"$RUN_DIR/prometheus.port"
  setsid nohup "$(binary prometheus)" \
    --config.file=observability/prometheus/prometheus.local.yml \
    --storage.tsdb.path="$DATA_DIR/prometheus" \
    --storage.tsdb.retention.time=7d \
    --web.listen-address="127.0.0.1:$port" \
    --web.enable-lifecycle \
    >>"$(log_file prometheus)" 2>&1 </dev/null 9>&- &
  echo $! >"$(pid_file prometheus)"
  wait_ready prometheus "http_ok http://127.0.0.1:$port/-/ready"
  log "prometheus ready (pid $(running_pid prometheus))"
}

start_jaeger() {
  if [[ -n "$(running_pid jaeger)" ]]; then
    log "jaeger already running (pid $(running_pid jaeger))"
    return
  fi
  local port
  for port in "$OTLP_GRPC_PORT" "$OTLP_HTTP_PORT" "$JAEGER_UI_PORT" "$JAEGER_QUERY_GRPC_PORT"; do
    port_in_use "$port" && die "port $port is taken by another process (ss -ltnp 'sport = :$port'); set OTLP_GRPC_PORT, OTLP_HTTP_PORT, JAEGER_UI_PORT or JAEGER_QUERY_GRPC_PORT"
  done
  OTLP_GRPC_PORT="$OTLP_GRPC_PORT" OTLP_HTTP_PORT="$OTLP_HTTP_PORT" JAEGER_UI_PORT="$JAEGER_UI_PORT" \
    JAEGER_QUERY_GRPC_PORT="$JAEGER_QUERY_GRPC_PORT" \
    setsid nohup "$(binary jaeger)" --config observability/jaeger/local.yaml \
    >>"$(log_file jaeger)" 2>&1 </dev/null 9>&- &
  echo $! >"$(pid_file jaeger)"
  wait_ready jaeger "http_ok http://127.0.0.1:$JAEGER_UI_PORT/api/services && tcp_open $OTLP_GRPC_PORT"
  log "jaeger ready (pid $(running_pid jaeger))"
}

stop_one() {
  local name="$1" pid
  pid="$(running_pid "$name")"
  if [[ -z "$pid" ]]; then
    rm -f "$(pid_file "$name")"
    log "$name not running"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { log "$name did not stop in ${STOP_TIMEOUT}s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$(pid_file "$name")"
  log "$name stopped"
}

status() {
  local name pid
  for name in "${ALL[@]}"; do
    pid="$(running_pid "$name")"
    if [[ -n "$pid" ]]; then log "$name running (pid $pid)"; else log "$name stopped"; fi
  done
}

urls() {
  cat <<EOF
[observe] Prometheus  http://127.0.0.1:$(prometheus_port)   (targets: /targets, alerts: /alerts)
[observe] Jaeger UI   http://127.0.0.1:$JAEGER_UI_PORT   (query API: /api/traces?service=requestor)
[observe] OTLP        grpc 127.0.0.1:$OTLP_GRPC_PORT, http 127.0.0.1:$OTLP_HTTP_PORT
[observe] Run the services with traces exported to Jaeger:
[observe]   OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP_GRPC_PORT make run
[observe] Prometheus scrapes http://127.0.0.1:8000/metrics (requestor) and :8001 (processor).
[observe] Stop with: make observe-down
EOF
}

mkdir -p "$PID_DIR" "$LOG_DIR" "$DATA_DIR"
# fd 9 holds the lock; the detached servers are started with it closed (9>&-).
exec 9>"$RUN_DIR/.lock"
flock -w 120 9 || die "another observe.sh is running (lock $RUN_DIR/.lock)"

case "${1:-up}" in
  up)
    start_jaeger
    start_prometheus
    urls
    ;;
  down)
    stop_one prometheus
    stop_one jaeger
    ;;
  status) status ;;
  *) die "usage: $0 up|down|status" ;;
esac
