#!/usr/bin/env bash
# Local infrastructure without Docker: Kafka (KRaft, jars from Maven Central),
# Redis, NATS JetStream and PostgreSQL (Debian packages), all on 127.0.0.1.
#
#   stack.sh install                 apt packages + Kafka jars (idempotent)
#   stack.sh up     [kafka|redis|nats|postgres ...]   start and wait until ready
#   stack.sh down   [kafka|redis|nats|postgres ...]   SIGTERM, wait, SIGKILL
#   KAFKA_BROKERS=3 stack.sh up      a 3-broker KRaft cluster (kafka, kafka-2, kafka-3)
#   stack.sh redis-cluster-up        opt-in Redis Cluster: 3 masters + 1 replica each on ports
#                                    REDIS_CLUSTER_PORT.. (7101-7106), idempotent, waits for
#                                    cluster_state:ok (REDIS_CLUSTER_REPLICAS=0: 3 masters only)
#   stack.sh redis-cluster-down      stop it; redis-cluster-clean also deletes its data
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
ALL_SERVICES=(kafka redis nats postgres)

# --- configuration (env-overridable) -----------------------------------------
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REDIS_PORT="${REDIS_PORT:-6379}"
# Redis refuses writes (never evicts) beyond this: see infra/redis/redis.conf.
REDIS_MAXMEMORY="${REDIS_MAXMEMORY:-4gb}"
NATS_PORT="${NATS_PORT:-4222}"
NATS_MONITOR_PORT="${NATS_MONITOR_PORT:-8222}"
POSTGRES_PORT="${POSTGRES_PORT:-5432}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
REDIS_START_TIMEOUT="${REDIS_START_TIMEOUT:-20}"
NATS_START_TIMEOUT="${NATS_START_TIMEOUT:-20}"
POSTGRES_START_TIMEOUT="${POSTGRES_START_TIMEOUT:-30}"
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

# --- replicated Kafka (KAFKA_BROKERS) ------------------------------------------
# KAFKA_BROKERS=3 runs a KRaft cluster of 3 nodes, each broker and controller: node 1 is the
# service `kafka` (KAFKA_PORT, KAFKA_CONTROLLER_PORT), node n the service `kafka-n` on
# KAFKA_PORT + 2(n-1) and KAFKA_CONTROLLER_PORT + 2(n-1) (by default 9092/9093, 9094/9095,
# 9096/9097). Topics get 3 replicas and min.insync.replicas=2 (kafka/cluster.properties).
# `kafka` on the command line means every node; `kafka-2` only that one (to restart it).
# The data directory remembers the number of brokers it was formatted for (data/kafka-brokers):
# without KAFKA_BROKERS, every command uses that number (`down` after `KAFKA_BROKERS=3 up` stops
# all three); to change it, `stack.sh clean` first.
KAFKA_BROKERS="${KAFKA_BROKERS:-$(cat "$DATA_DIR/kafka-brokers" 2>/dev/null || echo 1)}"
[[ "$KAFKA_BROKERS" =~ ^[1-9]$ ]] || {
  printf '[stack] ERROR: KAFKA_BROKERS must be a number from 1 to 9, got %s\n' "$KAFKA_BROKERS" >&2
  exit 1
}
KAFKA_NODES=(kafka)
for ((node = 2; node <= KAFKA_BROKERS; node++)); do KAFKA_NODES+=("kafka-$node"); done
KAFKA_BROKERS_FILE="$DATA_DIR/kafka-brokers"
KAFKA_CLUSTER_ID_FILE="$DATA_DIR/kafka-cluster-id"

# The services given, with `kafka` replaced by every Kafka node, one a line.
expand_kafka() {
  local svc
  for svc in "$@"; do
    if [[ "$svc" == kafka ]]; then printf '%s\n' "${KAFKA_NODES[@]}"; else printf '%s\n' "$svc"; fi
  done
}
mapfile -t ALL_SERVICES < <(expand_kafka "${ALL_SERVICES[@]}")

# `kafka` for every Kafka node (their functions are start_kafka, kafka_ready), else the name.
service_kind() { case "$1" in kafka-[0-9]*) echo kafka ;; *) echo "$1" ;; esac; }
kafka_node() { if [[ "$1" == kafka ]]; then echo 1; else echo "${1#kafka-}"; fi; }
kafka_node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
kafka_node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }
kafka_node_dir() { if (($1 == 1)); then echo "$KAFKA_LOG_DIRS"; else echo "$DATA_DIR/kafka-$1"; fi; }
kafka_node_conf() { if (($1 == 1)); then echo "$CONF_DIR/server.properties"; else echo "$CONF_DIR/server-$1.properties"; fi; }
kafka_node_service() { if (($1 == 1)); then echo kafka; else echo "kafka-$1"; fi; }

# 1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097
kafka_voters() {
  local node voters=()
  for ((node = 1; node <= KAFKA_BROKERS; node++)); do voters+=("$node@127.0.0.1:$(kafka_node_controller_port "$node")"); done
  (
    IFS=,
    echo "${voters[*]}"
  )
}

# The bootstrap list of every node: 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096
kafka_bootstrap() {
  local node servers=()
  for ((node = 1; node <= KAFKA_BROKERS; node++)); do servers+=("127.0.0.1:$(kafka_node_port "$node")"); done
  (
    IFS=,
    echo "${servers[*]}"
  )
}

# A data directory formatted for another number of brokers cannot be reused.
check_kafka_layout() {
  [[ -f "$KAFKA_LOG_DIRS/meta.properties" ]] || return 0
  local formatted
  formatted="$(cat "$KAFKA_BROKERS_FILE" 2>/dev/null || echo 1)"
  [[ "$formatted" == "$KAFKA_BROKERS" ]] ||
    die "kafka: $DATA_DIR holds a cluster of $formatted broker(s), not KAFKA_BROKERS=$KAFKA_BROKERS; set KAFKA_BROKERS=$formatted or run 'stack.sh clean' first"
}

# The lines appended to node n's server.properties when more than one broker runs.
render_kafka_cluster_config() {
  local node="$1" replication=$((KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3))
  ((KAFKA_BROKERS > 1)) || return 0
  printf '\n'
  sed -e "s|@NODE_ID@|$node|g" \
    -e "s|@VOTERS@|$(kafka_voters)|g" \
    -e "s|@REPLICATION@|$replication|g" \
    -e "s|@MIN_ISR@|$((replication >= 3 ? 2 : 1))|g" \
    "$SCRIPT_DIR/kafka/cluster.properties"
}

# --- small helpers -----------------------------------------------------------
log() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

is_service() { [[ " ${ALL_SERVICES[*]} " == *" $1 "* ]]; }

pid_file() { echo "$PID_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

main_port() {
  case "$1" in
    kafka | kafka-[0-9]*) kafka_node_port "$(kafka_node "$1")" ;;
    redis) echo "$REDIS_PORT" ;;
    nats) echo "$NATS_PORT" ;;
    postgres) echo "$POSTGRES_PORT" ;;
  esac
}

# Every port a service binds; all are checked before it starts.
service_ports() {
  case "$1" in
    kafka | kafka-[0-9]*)
      local node
      node="$(kafka_node "$1")"
      # The opt-in SASL_SSL listener (KAFKA_SASL_SSL_PORT) is on node 1 only.
      echo "$(kafka_node_port "$node") $(kafka_node_controller_port "$node") $([[ "$node" == 1 ]] && echo "${KAFKA_SASL_SSL_PORT:-}")"
      ;;
    redis) echo "$REDIS_PORT" ;;
    nats) echo "$NATS_PORT $NATS_MONITOR_PORT" ;;
    postgres) echo "$POSTGRES_PORT" ;;
  esac
}

# A word that must appear in the process's command line: guards against a
# stale pidfile whose pid was reused by an unrelated process.
cmdline_signature() {
  case "$1" in
    kafka | kafka-[0-9]*) echo "kafka.Kafka" ;;
    redis | redis-cluster-*) echo "redis-server" ;;
    nats) echo "nats-server" ;;
    postgres) echo "postgres" ;;
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
      redis-server | nats-server | postgresql)
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
    kafka | kafka-[0-9]*) echo "java:openjdk-17-jre-headless kcat:kcat ss:iproute2" ;;
    redis) echo "redis-server:redis-server redis-cli:redis-tools ss:iproute2" ;;
    nats) echo "nats-server:nats-server curl:curl ss:iproute2" ;;
    postgres) postgres_packages ;;
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
  for svc in "$@"; do
    if [[ "$(service_kind "$svc")" == kafka ]]; then
      install_kafka_jars
      break
    fi
  done
  if [[ " $* " == *" postgres "* ]]; then install_postgres; fi
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
        "$POSTGRES_PORT") env_name=POSTGRES_PORT ;;
        *) env_name=NATS_MONITOR_PORT ;;
      esac
      [[ "$svc" != kafka-[0-9]* ]] || env_name="KAFKA_PORT / KAFKA_CONTROLLER_PORT ($svc listens on them + $((2 * ($(kafka_node "$svc") - 1))))"
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

# Node n's server.properties (node 1: the single broker's, unchanged when KAFKA_BROKERS=1).
render_kafka_config() {
  local node="${1:-1}"
  {
    sed -e "s|@KAFKA_PORT@|$(kafka_node_port "$node")|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$(kafka_node_controller_port "$node")|g" \
      -e "s|@KAFKA_LOG_DIRS@|$(kafka_node_dir "$node")|g" \
      "$SCRIPT_DIR/kafka/server.properties"
    render_kafka_cluster_config "$node"
  } >"$(kafka_node_conf "$node")"
  if [[ "$node" == 1 && -n "${KAFKA_SASL_SSL_PORT:-}" ]]; then add_kafka_sasl_ssl_listener "$(kafka_node_conf 1)"; fi
}

# KAFKA_SASL_SSL_PORT: one more listener on node 1, SASL_SSL with SCRAM-SHA-512, its certificate
# as a PEM key store (key + certificate of `make certs`).
add_kafka_sasl_ssl_listener() {
  local certs="${KAFKA_SSL_CERT_DIR:-$SCRIPT_DIR/../../certs}" conf="$1"
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

# KRaft storage must be formatted exactly once; meta.properties marks it done. Every node of a
# cluster is formatted with the same cluster id (kept in $KAFKA_CLUSTER_ID_FILE).
format_kafka_storage() {
  local node="${1:-1}" svc cluster_id
  svc="$(kafka_node_service "$node")"
  [[ -f "$(kafka_node_dir "$node")/meta.properties" ]] && return 0
  cluster_id="$(cat "$KAFKA_CLUSTER_ID_FILE" 2>/dev/null || true)"
  if [[ -z "$cluster_id" ]]; then
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$(log_file "$svc")")"
    [[ "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka: unexpected cluster id '$cluster_id'"
    echo "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  log "$svc: formatting storage (cluster id $cluster_id)"
  local scram=()
  if [[ -n "${KAFKA_SASL_SSL_PORT:-}" ]]; then
    scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USERNAME,password=$KAFKA_SASL_PASSWORD]")
  fi
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$(kafka_node_conf "$node")" "${scram[@]}" >>"$(log_file "$svc")" 2>&1 ||
    die "$svc: storage format failed; see $(log_file "$svc")"
  echo "$KAFKA_BROKERS" >"$KAFKA_BROKERS_FILE"
}

start_kafka() {
  local svc="${1:-kafka}" node
  node="$(kafka_node "$svc")"
  check_kafka_layout
  render_kafka_config "$node"
  format_kafka_storage "$node"
  # shellcheck disable=SC2086 # heap opts are intentionally word-split
  spawn "$svc" java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
    -cp "$(kafka_classpath)" kafka.Kafka "$(kafka_node_conf "$node")"
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
  local since="$1" svc="${2:-kafka}" node port metadata
  node="$(kafka_node "$svc")"
  port="$(kafka_node_port "$node")"
  tcp_open "$port" || return 1
  log_mentions_since "$(log_file "$svc")" "$since" 'Kafka Server started' || return 1
  if command -v kcat >/dev/null 2>&1; then
    metadata="$(kcat -b "127.0.0.1:$port" -L -m 5 2>/dev/null)" || return 1
    [[ "$metadata" == *"broker $node at 127.0.0.1:$port"* ]] || return 1
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

# --- redis cluster (opt-in: redis-cluster-up / -down / -clean) -------------------
# Three masters (REDIS_CLUSTER_PORT, +1, +2) and, with REDIS_CLUSTER_REPLICAS=1 (default), one
# replica each (+3, +4, +5), every node with the project's redis.conf (appendonly yes, appendfsync
# always) and its own directory (nodes.conf, AOF) under REDIS_CLUSTER_DIR. A node killed and
# started again rejoins from its nodes.conf; a master killed for longer than
# REDIS_CLUSTER_NODE_TIMEOUT ms is replaced by its replica. The services use it with
# REDIS_CLUSTER_NODES=127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103.
REDIS_CLUSTER_PORT="${REDIS_CLUSTER_PORT:-7101}"
REDIS_CLUSTER_REPLICAS="${REDIS_CLUSTER_REPLICAS:-1}"
REDIS_CLUSTER_NODE_TIMEOUT="${REDIS_CLUSTER_NODE_TIMEOUT:-2000}"
REDIS_CLUSTER_DIR="${REDIS_CLUSTER_DIR:-$DATA_DIR/redis-cluster-$REDIS_CLUSTER_PORT}"
REDIS_CLUSTER_START_TIMEOUT="${REDIS_CLUSTER_START_TIMEOUT:-30}"

redis_cluster_ports() {
  local count=$((3 * (1 + REDIS_CLUSTER_REPLICAS))) index
  for ((index = 0; index < count; index++)); do echo $((REDIS_CLUSTER_PORT + index)); done
}

redis_cluster_cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }

# Starts one node unless it runs already (its pidfile) or someone else holds its port.
start_redis_cluster_node() {
  local port="$1" svc="redis-cluster-$1" dir="$REDIS_CLUSTER_DIR/$1"
  if [[ -n "$(running_pid "$svc")" ]]; then return 0; fi
  port_in_use "$port" && die "$svc: port $port is already in use by $(port_owner "$port"); set REDIS_CLUSTER_PORT"
  port_in_use $((port + 10000)) &&
    die "$svc: cluster bus port $((port + 10000)) is already in use by $(port_owner $((port + 10000))); set REDIS_CLUSTER_PORT"
  mkdir -p "$dir"
  spawn "$svc" redis-server "$SCRIPT_DIR/../redis/redis.conf" --bind 127.0.0.1 --port "$port" \
    --protected-mode yes --dir "$dir" --maxmemory "$REDIS_MAXMEMORY" --daemonize no --logfile "" \
    --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout "$REDIS_CLUSTER_NODE_TIMEOUT"
}

# Every node says ok, and (with replicas) every master has its replica attached.
redis_cluster_ok() {
  local port
  for port in $(redis_cluster_ports); do
    redis_cluster_cli "$port" cluster info | grep -q '^cluster_state:ok' || return 1
  done
  (($(redis_cluster_cli "$REDIS_CLUSTER_PORT" cluster nodes | grep -cE '[ ,]slave[ ,]') == 3 * REDIS_CLUSTER_REPLICAS))
}

cmd_redis_cluster_up() {
  local port deadline ports=()
  mapfile -t ports < <(redis_cluster_ports)
  take_lock
  ensure_dirs
  for port in "${ports[@]}"; do start_redis_cluster_node "$port"; done
  deadline=$((SECONDS + REDIS_CLUSTER_START_TIMEOUT))
  for port in "${ports[@]}"; do
    until [[ "$(redis_cluster_cli "$port" ping)" == PONG ]]; do
      ((SECONDS < deadline)) || die "redis-cluster-$port: not answering after ${REDIS_CLUSTER_START_TIMEOUT}s (stack.sh logs redis-cluster-$port)"
      sleep 0.2
    done
  done
  # Created once: a node that knows only itself has never joined a cluster.
  if redis_cluster_cli "${ports[0]}" cluster info | grep -q '^cluster_known_nodes:1\b'; then
    local seeds=()
    for port in "${ports[@]}"; do seeds+=("127.0.0.1:$port"); done
    log "redis-cluster: creating (${#ports[@]} nodes, $REDIS_CLUSTER_REPLICAS replica(s) per master)"
    redis-cli --cluster create "${seeds[@]}" --cluster-replicas "$REDIS_CLUSTER_REPLICAS" --cluster-yes \
      >>"$(log_file "redis-cluster-${ports[0]}")" 2>&1 || die "redis-cluster: create failed (stack.sh logs redis-cluster-${ports[0]})"
  fi
  until redis_cluster_ok; do
    ((SECONDS < deadline + REDIS_CLUSTER_START_TIMEOUT)) || die "redis-cluster: cluster_state is not ok on every node"
    sleep 0.2
  done
  log "redis-cluster: ok on ports ${ports[0]}-${ports[-1]}; run the services with REDIS_CLUSTER_NODES=127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
}

cmd_redis_cluster_down() {
  local port
  take_lock
  for port in $(redis_cluster_ports); do signal_one "redis-cluster-$port"; done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  for port in $(redis_cluster_ports); do reap_one "redis-cluster-$port" "$deadline"; done
}

cmd_redis_cluster_clean() {
  cmd_redis_cluster_down
  log "deleting $REDIS_CLUSTER_DIR"
  rm -rf "$REDIS_CLUSTER_DIR"
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

# --- postgres ------------------------------------------------------------------
# Debian's server (package `postgresql`), run from its binaries with a cluster of
# our own under DATA_DIR (not the system cluster): `initdb` once, loopback only,
# trust authentication for the local user `dcent` (like the local Redis: no
# password on 127.0.0.1), database `dcent`:
#   DATABASE_URL=postgres://dcent@127.0.0.1:$POSTGRES_PORT/dcent
# PostgreSQL refuses to run as root: as root it runs as the `postgres` system user.
POSTGRES_VERSION="${POSTGRES_VERSION:-15}"
POSTGRES_BIN="/usr/lib/postgresql/$POSTGRES_VERSION/bin"
POSTGRES_DATA="$DATA_DIR/postgres"
POSTGRES_SOCKET_DIR="$DATA_DIR/postgres-socket"

# Its server binary is not on PATH: `install_for` checks it by path (`install_postgres`).
postgres_packages() { echo "ss:iproute2"; }

install_postgres() {
  [[ -x "$POSTGRES_BIN/postgres" ]] || apt_install postgresql
  [[ -x "$POSTGRES_BIN/postgres" ]] || die "postgres: $POSTGRES_BIN/postgres is missing after installing postgresql (set POSTGRES_VERSION)"
}

# Runs a command as the user that owns the cluster (from /, which that user can read).
as_postgres() {
  if ((EUID == 0)); then
    (cd / && setpriv --reuid=postgres --regid=postgres --init-groups -- "$@")
  else
    "$@"
  fi
}

init_postgres() {
  mkdir -p "$POSTGRES_DATA" "$POSTGRES_SOCKET_DIR"
  if ((EUID == 0)); then chown postgres:postgres "$POSTGRES_DATA" "$POSTGRES_SOCKET_DIR"; fi
  chmod 700 "$POSTGRES_DATA"
  [[ -f "$POSTGRES_DATA/PG_VERSION" ]] && return 0
  log "postgres: initdb $POSTGRES_DATA"
  as_postgres "$POSTGRES_BIN/initdb" -D "$POSTGRES_DATA" -U dcent --auth-local=trust --auth-host=trust \
    -E UTF8 --locale=C.UTF-8 >>"$(log_file postgres)" 2>&1 || die "postgres: initdb failed; see $(log_file postgres)"
}

start_postgres() {
  init_postgres
  local as_owner=()
  # setpriv execs the server, so the pidfile holds the server's pid.
  if ((EUID == 0)); then as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
  spawn postgres "${as_owner[@]}" "$POSTGRES_BIN/postgres" -D "$POSTGRES_DATA" \
    -c listen_addresses=127.0.0.1 -c port="$POSTGRES_PORT" \
    -c unix_socket_directories="$POSTGRES_SOCKET_DIR" -c logging_collector=off
}

postgres_ready() {
  as_postgres "$POSTGRES_BIN/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U dcent -d postgres || return 1
  # The services' database, created once.
  if [[ "$(as_postgres "$POSTGRES_BIN/psql" -h 127.0.0.1 -p "$POSTGRES_PORT" -U dcent -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'dcent'" 2>/dev/null)" != 1 ]]; then
    as_postgres "$POSTGRES_BIN/createdb" -h 127.0.0.1 -p "$POSTGRES_PORT" -U dcent dcent >>"$(log_file postgres)" 2>&1 || return 1
  fi
}

# --- up / down -------------------------------------------------------------------
start_timeout() {
  case "$1" in
    kafka | kafka-[0-9]*) echo "$KAFKA_START_TIMEOUT" ;;
    redis) echo "$REDIS_START_TIMEOUT" ;;
    nats) echo "$NATS_START_TIMEOUT" ;;
    postgres) echo "$POSTGRES_START_TIMEOUT" ;;
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
  until "$(service_kind "$svc")_ready" "$since" "$svc"; do
    pid="$(running_pid "$svc")"
    [[ -n "$pid" ]] || fail_start "$svc" "process exited during start-up"
    ((SECONDS < deadline)) ||
      fail_start "$svc" "not ready after $(start_timeout "$svc")s (pid $pid left running; 'stack.sh down $svc' stops it)"
    sleep 0.5
  done
}

# `up` starts every service first and then waits for each: the nodes of a KRaft cluster become
# ready only once a majority of them runs.
declare -A UP_SINCE=() UP_STARTED=()

launch_one() {
  local svc="$1" pid since
  pid="$(running_pid "$svc")"
  if [[ -n "$pid" ]]; then
    UP_SINCE[$svc]=0
    UP_STARTED[$svc]=already
    return 0
  fi
  rm -f "$(pid_file "$svc")"
  install_for "$svc"
  check_ports_free "$svc"
  since="$(log_size "$(log_file "$svc")")"
  log "$svc: starting on 127.0.0.1:$(main_port "$svc")"
  UP_STARTED[$svc]=$SECONDS
  "start_$(service_kind "$svc")" "$svc"
  wait_pidfile "$svc"
  UP_SINCE[$svc]=$since
}

await_one() {
  local svc="$1"
  # An already running one is still waited for: it may have been started a moment ago by another caller.
  wait_ready "$svc" "${UP_SINCE[$svc]}"
  if [[ "${UP_STARTED[$svc]}" == already ]]; then
    log "$svc: already running (pid $(running_pid "$svc"), port $(main_port "$svc"))"
  else
    log "$svc: ready (pid $(running_pid "$svc"), port $(main_port "$svc"), $((SECONDS - UP_STARTED[$svc]))s)"
  fi
}

# `down` signals every service first and then waits for each: the last node of a KRaft cluster
# stopped alone would wait for a quorum that is gone.
declare -A DOWN_PID=()

signal_one() {
  local svc="$1" pid
  pid="$(running_pid "$svc")"
  DOWN_PID[$svc]="$pid"
  if [[ -z "$pid" ]]; then
    rm -f "$(pid_file "$svc")"
    log "$svc: not running"
    return 0
  fi
  log "$svc: stopping (pid $pid)"
  # PostgreSQL's SIGTERM waits for every client to leave; SIGINT is its fast shutdown.
  if [[ "$svc" == postgres ]]; then kill -INT "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
}

reap_one() {
  local svc="$1" deadline="$2" pid="${DOWN_PID[$1]}"
  [[ -n "$pid" ]] || return 0
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
    printf '%-8s running  pid %-8s port %s\n' "$svc" "$pid" "$port"
  elif port_in_use "$port"; then
    printf '%-8s stopped  port %s is held by another process: %s\n' "$svc" "$port" "$(port_owner "$port")"
  else
    printf '%-8s stopped  port %s\n' "$svc" "$port"
  fi
}

# --- commands --------------------------------------------------------------------
# Sets SERVICES from the arguments (validated); no arguments means all.
select_services() {
  local svc
  (($# > 0)) || set -- "${ALL_SERVICES[@]}"
  for svc in "$@"; do is_service "$svc" || die "unknown service '$svc' (expected: ${ALL_SERVICES[*]})"; done
  mapfile -t SERVICES < <(expand_kafka "$@")
}

cmd_up() {
  local svc
  select_services "$@"
  take_lock
  ensure_dirs
  for svc in "${SERVICES[@]}"; do launch_one "$svc"; done
  for svc in "${SERVICES[@]}"; do await_one "$svc"; done
  if ((KAFKA_BROKERS > 1)) && [[ " ${SERVICES[*]} " == *" kafka"* ]]; then
    log "kafka: $KAFKA_BROKERS brokers; run the services with BROKER_URL=kafka://$(kafka_bootstrap) KAFKA_REPLICATION_FACTOR=$((KAFKA_BROKERS < 3 ? KAFKA_BROKERS : 3))"
  fi
}

cmd_down() {
  local svc
  select_services "$@"
  take_lock
  for svc in "${SERVICES[@]}"; do signal_one "$svc"; done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  for svc in "${SERVICES[@]}"; do reap_one "$svc" "$deadline"; done
}

cmd_status() {
  local svc
  for svc in "${ALL_SERVICES[@]}"; do status_one "$svc"; done
}

cmd_logs() {
  (($# >= 1)) || die "usage: stack.sh logs <kafka|redis|nats|postgres> [-f]"
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

usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

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
    redis-cluster-up) cmd_redis_cluster_up ;;
    redis-cluster-down) cmd_redis_cluster_down ;;
    redis-cluster-clean) cmd_redis_cluster_clean ;;
    -h | --help | help | "") usage ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
