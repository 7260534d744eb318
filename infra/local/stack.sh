#!/usr/bin/env bash
# Local infrastructure without Docker: Kafka (KRaft, jars from Maven Central),
# Redis and NATS JetStream (Debian packages), all on 127.0.0.1.
#
#   stack.sh install                 apt packages + Kafka jars (idempotent)
#   stack.sh up     [kafka|redis|nats ...]   start and wait until ready
#   stack.sh down   [kafka|redis|nats ...]   SIGTERM, wait, SIGKILL
#   stack.sh status                  one line per service
#   stack.sh logs   <svc> [-f]       tail a service's log
#   stack.sh clean                   down + delete data and logs
#
# Services run detached (setsid + pidfile) so they outlive this script.
#
# Credentials (opt-in, README "Security"): REDIS_REQUIREPASS starts Redis with that password;
# KAFKA_SASL_SSL_PORT adds a SASL_SSL listener (SCRAM-SHA-512 user KAFKA_SASL_USERNAME /
# KAFKA_SASL_PASSWORD, created when the storage is formatted: start from a clean data dir; the
# certificate kafka.crt/kafka.key of `make certs` in KAFKA_SSL_CERT_DIR, default certs/) beside
# the plaintext one.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL_SERVICES=(kafka redis nats)

# --- configuration (env-overridable) -----------------------------------------
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REDIS_PORT="${REDIS_PORT:-6379}"
# Redis refuses writes (never evicts) beyond this: see infra/redis/redis.conf.
REDIS_MAXMEMORY="${REDIS_MAXMEMORY:-4gb}"
NATS_PORT="${NATS_PORT:-4222}"
NATS_MONITOR_PORT="${NATS_MONITOR_PORT:-8222}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
REDIS_START_TIMEOUT="${REDIS_START_TIMEOUT:-20}"
NATS_START_TIMEOUT="${NATS_START_TIMEOUT:-20}"
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"

RUN_DIR="${DCENT_LOCAL_DIR:-$SCRIPT_DIR/.run}"
DATA_DIR="$RUN_DIR/data"
LOG_DIR="$RUN_DIR/logs"
PID_DIR="$RUN_DIR/pids"
CONF_DIR="$RUN_DIR/conf"

KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
# Jars live outside the repo so a fresh clone or `clean` does not re-download.
KAFKA_HOME="${DCENT_CACHE_DIR:-$HOME/.cache/dcent}/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_MARKER="$KAFKA_LIBS/.complete"
KAFKA_LOG_DIRS="$DATA_DIR/kafka"

# --- small helpers -----------------------------------------------------------
log() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

is_service() { [[ " ${ALL_SERVICES[*]} " == *" $1 "* ]]; }

pid_file() { echo "$PID_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

main_port() {
  case "$1" in
    kafka) echo "$KAFKA_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    nats) echo "$NATS_PORT" ;;
  esac
}

# Every port a service binds; all are checked before it starts.
service_ports() {
  case "$1" in
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT ${KAFKA_SASL_SSL_PORT:-}" ;;
    redis) echo "$REDIS_PORT" ;;
    nats) echo "$NATS_PORT $NATS_MONITOR_PORT" ;;
  esac
}

# A word that must appear in the process's command line: guards against a
# stale pidfile whose pid was reused by an unrelated process.
cmdline_signature() {
  case "$1" in
    kafka) echo "kafka.Kafka" ;;
    redis) echo "redis-server" ;;
    nats) echo "nats-server" ;;
  esac
}

# Prints the pid if the service is running from our pidfile, else nothing.
running_pid() {
  local svc="$1" file pid
  file="$(pid_file "$svc")"
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$(cmdline_signature "$svc")"* ]] && echo "$pid"
  return 0
}

# "python3 (pid 123)" for whoever listens on a port, from ss's users:(("python3",pid=123,fd=3)).
port_owner() {
  local owner
  owner="$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n1 |
    sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/\1 (pid \2)/' || true)"
  echo "${owner:-a process ss cannot name}"
}

port_in_use() { [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_dirs() { mkdir -p "$DATA_DIR" "$LOG_DIR" "$PID_DIR" "$CONF_DIR"; }

# Serialises up/down/clean: two concurrent `up`s (parallel make targets) must
# not both start a service and fight over its port and pidfile. The lock is
# held until this script exits.
take_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/.lock"
  flock -w "${STACK_LOCK_TIMEOUT:-300}" 9 || die "another stack.sh is still running (lock $RUN_DIR/.lock)"
}

# --- install -----------------------------------------------------------------
# Runs a noisy command quietly; its output is shown only if it fails.
quietly() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "failed: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  if ((APT_UPDATED == 0)); then
    log "apt-get update"
    quietly env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  quietly env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
  stop_packaged_services "$@"
}

# On a host booted with systemd, Debian starts redis-server/nats-server as
# system services (nats on 0.0.0.0) right after install; they would hold the
# ports this stack uses, so switch them off. Containers without systemd skip this.
stop_packaged_services() {
  [[ -d /run/systemd/system ]] || return 0
  local pkg
  for pkg in "$@"; do
    case "$pkg" in
      redis-server | nats-server)
        if systemctl is-active --quiet "$pkg"; then
          log "disabling the system $pkg service (this stack runs its own)"
          systemctl disable --now --quiet "$pkg" || true
        fi
        ;;
    esac
  done
}

# Takes command:package pairs; installs, in one apt run, the packages whose
# command is missing.
install_apt_packages() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
}

# command:package pairs each service needs at run time.
service_packages() {
  case "$1" in
    kafka) echo "java:openjdk-17-jre-headless kcat:kcat ss:iproute2" ;;
    redis) echo "redis-server:redis-server redis-cli:redis-tools ss:iproute2" ;;
    nats) echo "nats-server:nats-server curl:curl ss:iproute2" ;;
  esac
}

# The marker holds the pom's hash: editing the pom (new jar, new version)
# re-runs Maven; otherwise nothing is done.
kafka_jars_complete() {
  [[ -f "$KAFKA_MARKER" ]] && [[ "$(cat "$KAFKA_MARKER")" == "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)" ]]
}

install_kafka_jars() {
  kafka_jars_complete && return 0
  install_apt_packages mvn:maven
  log "downloading Kafka $KAFKA_VERSION jars into $KAFKA_LIBS (Maven, cache ~/.m2)"
  local tmp="$KAFKA_LIBS.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME"
  quietly mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp"
  sha256sum "$KAFKA_POM" | cut -d' ' -f1 >"$tmp/.complete"
  # Swap in whole so a half-finished download is never mistaken for complete.
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "Kafka jars ready ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

# What the given services need; `up` calls this too, so it is quick when done.
install_for() {
  local svc pairs=()
  for svc in "$@"; do
    # shellcheck disable=SC2207 # the pairs contain no spaces
    pairs+=($(service_packages "$svc"))
  done
  install_apt_packages "${pairs[@]}"
  if [[ " $* " == *" kafka "* ]]; then install_kafka_jars; fi
}

cmd_install() {
  take_lock # `up` installs too; never run two Maven downloads into one cache
  install_for "${ALL_SERVICES[@]}"
  log "install complete (Kafka $KAFKA_VERSION in $KAFKA_HOME)"
}

# --- process control -----------------------------------------------------------
# Runs a command detached in its own session; the inner shell writes its own
# pid and then execs, so the pidfile holds the service's real pid. fd 9 (the
# stack lock) is closed so the service does not hold the lock forever.
spawn() {
  local svc="$1"
  shift
  # shellcheck disable=SC2016 # $$ and $@ are expanded by the inner shell
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$(pid_file "$svc")" "$@" \
    >>"$(log_file "$svc")" 2>&1 </dev/null 9>&- &
}

# Fails with the message the brief promised when someone else holds a port.
check_ports_free() {
  local svc="$1" port env_name
  for port in $(service_ports "$svc"); do
    if port_in_use "$port"; then
      case "$port" in
        "$KAFKA_PORT") env_name=KAFKA_PORT ;;
        "$KAFKA_CONTROLLER_PORT") env_name=KAFKA_CONTROLLER_PORT ;;
        "$REDIS_PORT") env_name=REDIS_PORT ;;
        "$NATS_PORT") env_name=NATS_PORT ;;
        *) env_name=NATS_MONITOR_PORT ;;
      esac
      die "$svc: port $port is already in use by $(port_owner "$port"); stop it or set $env_name"
    fi
  done
}

# --- kafka ---------------------------------------------------------------------
kafka_classpath() { echo "$KAFKA_LIBS/*"; }

# Runs a Kafka CLI class (not the broker) with the jars and quiet logging.
kafka_java() {
  java -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2-tools.properties" \
    -cp "$(kafka_classpath)" "$@"
}

render_kafka_config() {
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@KAFKA_LOG_DIRS@|$KAFKA_LOG_DIRS|g" \
    "$SCRIPT_DIR/kafka/server.properties" >"$CONF_DIR/server.properties"
  if [[ -n "${KAFKA_SASL_SSL_PORT:-}" ]]; then add_kafka_sasl_ssl_listener; fi
}

# KAFKA_SASL_SSL_PORT: one more listener, SASL_SSL with SCRAM-SHA-512, its certificate as a PEM
# key store (key + certificate of `make certs`).
add_kafka_sasl_ssl_listener() {
  local certs="${KAFKA_SSL_CERT_DIR:-$SCRIPT_DIR/../../certs}" conf="$CONF_DIR/server.properties"
  [[ -n "${KAFKA_SASL_USERNAME:-}" && -n "${KAFKA_SASL_PASSWORD:-}" ]] ||
    die "kafka: KAFKA_SASL_SSL_PORT needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
  [[ -f "$certs/kafka.crt" && -f "$certs/kafka.key" ]] ||
    die "kafka: KAFKA_SASL_SSL_PORT needs $certs/kafka.crt and kafka.key (make certs)"
  (umask 077 && cat "$certs/kafka.key" "$certs/kafka.crt" >"$CONF_DIR/kafka-keystore.pem")
  sed -i -e "s|^listeners=.*|&,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT|" \
    -e "s|^advertised.listeners=.*|&,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT|" \
    -e "s|^listener.security.protocol.map=.*|&,SASL_SSL:SASL_SSL|" "$conf"
  printf '%s\n' "sasl.enabled.mechanisms=SCRAM-SHA-512" \
    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" \
    "listener.name.sasl_ssl.ssl.keystore.type=PEM" \
    "listener.name.sasl_ssl.ssl.keystore.location=$CONF_DIR/kafka-keystore.pem" >>"$conf"
}

# KRaft storage must be formatted exactly once; meta.properties marks it done.
format_kafka_storage() {
  [[ -f "$KAFKA_LOG_DIRS/meta.properties" ]] && return 0
  local cluster_id
  cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$(log_file kafka)")"
  [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka: unexpected cluster id '$cluster_id'"
  log "kafka: formatting storage (cluster id $cluster_id)"
  local scram=()
  if [[ -n "${KAFKA_SASL_SSL_PORT:-}" ]]; then
    scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USERNAME,password=$KAFKA_SASL_PASSWORD]")
  fi
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$CONF_DIR/server.properties" "${scram[@]}" >>"$(log_file kafka)" 2>&1 ||
    die "kafka: storage format failed; see $(log_file kafka)"
}

start_kafka() {
  render_kafka_config
  format_kafka_storage
  # shellcheck disable=SC2086 # heap opts are intentionally word-split
  spawn kafka java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
    -cp "$(kafka_classpath)" kafka.Kafka "$CONF_DIR/server.properties"
}

# True if the file, from byte offset $2 on, contains $3. (Not `| grep -q`:
# with pipefail, grep quitting early makes tail die of SIGPIPE on big logs.)
log_mentions_since() {
  local count
  count="$(tail -c +"$(($2 + 1))" "$1" | grep -cF -- "$3" || true)"
  ((count > 0))
}

# Ready = port accepts connections, this run logged "Kafka Server started",
# and (when kcat is there) a metadata request answers with our broker.
kafka_ready() {
  local since="$1" metadata
  tcp_open "$KAFKA_PORT" || return 1
  log_mentions_since "$(log_file kafka)" "$since" 'Kafka Server started' || return 1
  if command -v kcat >/dev/null 2>&1; then
    metadata="$(kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 5 2>/dev/null)" || return 1
    [[ "$metadata" == *"broker 1 at"* ]] || return 1
  fi
}

# --- redis ---------------------------------------------------------------------
start_redis() {
  mkdir -p "$DATA_DIR/redis"
  # Foreground (no --daemonize) so it is managed like the others; output goes
  # to redis.log through spawn's redirection.
  # Durability and memory settings come from the one file every deployment uses.
  spawn redis redis-server "$SCRIPT_DIR/../redis/redis.conf" --bind 127.0.0.1 --port "$REDIS_PORT" \
    --protected-mode yes --dir "$DATA_DIR/redis" --maxmemory "$REDIS_MAXMEMORY" \
    --daemonize no --logfile "" \
    ${REDIS_REQUIREPASS:+--requirepass "$REDIS_REQUIREPASS"}
}

# With REDIS_REQUIREPASS, redis-cli authenticates through REDISCLI_AUTH (not its command line).
redis_ready() {
  if [[ -n "${REDIS_REQUIREPASS:-}" ]]; then export REDISCLI_AUTH="$REDIS_REQUIREPASS"; fi
  [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

# --- nats ----------------------------------------------------------------------
start_nats() {
  mkdir -p "$DATA_DIR/nats"
  spawn nats nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
    --store_dir "$DATA_DIR/nats"
}

nats_ready() {
  curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true" >/dev/null 2>&1
}

# --- up / down -------------------------------------------------------------------
start_timeout() {
  case "$1" in
    kafka) echo "$KAFKA_START_TIMEOUT" ;;
    redis) echo "$REDIS_START_TIMEOUT" ;;
    nats) echo "$NATS_START_TIMEOUT" ;;
  esac
}

log_size() { if [[ -f "$1" ]]; then stat -c %s "$1"; else echo 0; fi; }

fail_start() {
  local svc="$1" why="$2"
  printf '[stack] %s: %s; last lines of %s:\n' "$svc" "$why" "$(log_file "$svc")" >&2
  tail -n 40 "$(log_file "$svc")" >&2 || true
  exit 1
}

# The detached shell writes the pidfile a moment after spawn returns.
wait_pidfile() {
  local _
  for _ in $(seq 50); do
    [[ -s "$(pid_file "$1")" ]] && return 0
    sleep 0.1
  done
  fail_start "$1" "no pidfile written"
}

# Polls the service's readiness probe; gives up on timeout or early exit.
wait_ready() {
  local svc="$1" since="$2" deadline pid
  deadline=$((SECONDS + $(start_timeout "$svc")))
  until "${svc}_ready" "$since"; do
    pid="$(running_pid "$svc")"
    [[ -n "$pid" ]] || fail_start "$svc" "process exited during start-up"
    ((SECONDS < deadline)) ||
      fail_start "$svc" "not ready after $(start_timeout "$svc")s (pid $pid left running; 'stack.sh down $svc' stops it)"
    sleep 0.5
  done
}

up_one() {
  local svc="$1" pid since started=$SECONDS
  pid="$(running_pid "$svc")"
  if [[ -n "$pid" ]]; then
    # Still wait: it may have been started a moment ago by another caller.
    wait_ready "$svc" 0
    log "$svc: already running (pid $pid, port $(main_port "$svc"))"
    return 0
  fi
  rm -f "$(pid_file "$svc")"
  install_for "$svc"
  check_ports_free "$svc"
  since="$(log_size "$(log_file "$svc")")"
  log "$svc: starting on 127.0.0.1:$(main_port "$svc")"
  "start_$svc"
  wait_pidfile "$svc"
  wait_ready "$svc" "$since"
  log "$svc: ready (pid $(running_pid "$svc"), port $(main_port "$svc"), $((SECONDS - started))s)"
}

down_one() {
  local svc="$1" pid deadline
  pid="$(running_pid "$svc")"
  if [[ -z "$pid" ]]; then
    rm -f "$(pid_file "$svc")"
    log "$svc: not running"
    return 0
  fi
  log "$svc: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.3; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$svc: still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$(pid_file "$svc")"
  log "$svc: stopped"
}

status_one() {
  local svc="$1" pid port
  pid="$(running_pid "$svc")"
  port="$(main_port "$svc")"
  if [[ -n "$pid" ]]; then
    printf '%-6s running  pid %-8s port %s\n' "$svc" "$pid" "$port"
  elif port_in_use "$port"; then
    printf '%-6s stopped  port %s is held by another process: %s\n' "$svc" "$port" "$(port_owner "$port")"
  else
    printf '%-6s stopped  port %s\n' "$svc" "$port"
  fi
}

# --- commands --------------------------------------------------------------------
# Sets SERVICES from the arguments (validated); no arguments means all.
select_services() {
  local svc
  (($# > 0)) || set -- "${ALL_SERVICES[@]}"
  for svc in "$@"; do is_service "$svc" || die "unknown service '$svc' (expected: ${ALL_SERVICES[*]})"; done
  SERVICES=("$@")
}

cmd_up() {
  local svc
  select_services "$@"
  take_lock
  ensure_dirs
  for svc in "${SERVICES[@]}"; do up_one "$svc"; done
}

cmd_down() {
  local svc
  select_services "$@"
  take_lock
  for svc in "${SERVICES[@]}"; do down_one "$svc"; done
}

cmd_status() {
  local svc
  for svc in "${ALL_SERVICES[@]}"; do status_one "$svc"; done
}

cmd_logs() {
  (($# >= 1)) || die "usage: stack.sh logs <kafka|redis|nats> [-f]"
  is_service "$1" || die "unknown service '$1'"
  local file
  file="$(log_file "$1")"
  [[ -f "$file" ]] || die "no log yet: $file"
  if [[ "${2:-}" == "-f" ]]; then tail -n 100 -F "$file"; else tail -n "${LOG_LINES:-100}" "$file"; fi
}

cmd_clean() {
  cmd_down # takes the lock
  log "deleting $DATA_DIR $LOG_DIR $CONF_DIR"
  rm -rf "$DATA_DIR" "$LOG_DIR" "$CONF_DIR"
}

usage() { sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

main() {
  local cmd="${1:-}"
  (($# > 0)) && shift
  case "$cmd" in
    install) cmd_install ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    clean) cmd_clean ;;
    -h | --help | help | "") usage ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
