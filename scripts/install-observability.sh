#!/usr/bin/env bash
# Installs the observability tools that `make observe` and the observability tests run,
# idempotently (a second run is a quick no-op):
#   - Prometheus and promtool: Debian's `prometheus` package. The package's own system service
#     (Prometheus on :9090 scraping nothing of ours) is stopped and disabled, so that it neither
#     holds the port `make observe` wants nor surprises anyone.
#   - Jaeger v2 (an OTLP receiver with a trace store, UI and query API): built from the Go module
#     proxy into the cache outside git, ${DCENT_CACHE_DIR:-~/.cache/dcent}/bin/jaeger (a few
#     minutes once).
set -euo pipefail
cd "$(dirname "$0")/.."

# Jaeger tags each release twice: v2.x for the new binary and v1.y for the Go module (whose path
# has no /v2 suffix). v1.75.0 is Jaeger v2.12.0 (the newest release approved here; do not take newer), whose `cmd/jaeger` is the v2 all-in-one.
readonly JAEGER_MODULE_VERSION=v1.75.0
readonly JAEGER_PACKAGE=github.com/jaegertracing/jaeger/cmd/jaeger
readonly BIN_DIR="${DCENT_CACHE_DIR:-$HOME/.cache/dcent}/bin"
readonly JAEGER_STAMP="$BIN_DIR/.jaeger-version"

log() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_prometheus() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  log "apt-get install prometheus"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}

# The package enables and starts `prometheus.service`; we run our own Prometheus instead.
disable_system_prometheus() {
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    if systemctl is-enabled --quiet prometheus.service 2>/dev/null || systemctl is-active --quiet prometheus.service 2>/dev/null; then
      log "stopping and disabling the system prometheus.service"
      sudo_if_needed systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
  elif [ -x /etc/init.d/prometheus ] && [ -f /run/prometheus.pid ] && kill -0 "$(cat /run/prometheus.pid)" 2>/dev/null; then
    log "stopping the system prometheus (init.d)"
    sudo_if_needed /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    sudo_if_needed update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
}

install_jaeger() {
  if [ -x "$BIN_DIR/jaeger" ] && [ "$(cat "$JAEGER_STAMP" 2>/dev/null)" = "$JAEGER_MODULE_VERSION" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Jaeger is built with Go (>= 1.24), which is not installed: install Go, then re-run"
  mkdir -p "$BIN_DIR"
  # Two concurrent runs (parallel make targets) must not both build.
  exec 8>"$BIN_DIR/.jaeger-build.lock"
  flock -w 1200 8 || die "another Jaeger build is still running ($BIN_DIR/.jaeger-build.lock)"
  if [ -x "$BIN_DIR/jaeger" ] && [ "$(cat "$JAEGER_STAMP" 2>/dev/null)" = "$JAEGER_MODULE_VERSION" ]; then
    return 0
  fi
  log "building Jaeger $JAEGER_MODULE_VERSION (v2 all-in-one) into $BIN_DIR (once, several minutes)"
  local work started
  started=$(date +%s)
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand $work now
  trap "rm -rf '$work'" EXIT
  # `go install $JAEGER_PACKAGE@version` refuses Jaeger's go.mod (it has a replace directive), so
  # build it from a module that depends on it, with the same replace and Jaeger's own go.sum (the
  # checksums its maintainers committed, so no module needs a checksum-database lookup).
  (
    cd "$work"
    go mod init jaeger-build >/dev/null 2>&1
    go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
    go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" >module.json
    cp "$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' module.json)/go.sum" go.sum
    chmod u+w go.sum
    go get "$JAEGER_PACKAGE@$JAEGER_MODULE_VERSION" 2>&1 | grep -v '^go: \(downloading\|added\|upgraded\|warning\|to switch\)\|^\s*go get' || true
    go build -trimpath -ldflags "-s -w" -o jaeger "$JAEGER_PACKAGE"
  ) || die "could not build Jaeger (see above)"
  install -m 0755 "$work/jaeger" "$BIN_DIR/jaeger"
  echo "$JAEGER_MODULE_VERSION" >"$JAEGER_STAMP"
  log "Jaeger built in $(($(date +%s) - started)) s: $BIN_DIR/jaeger"
}

install_prometheus
disable_system_prometheus
install_jaeger
log "prometheus $(prometheus --version 2>&1 | sed -n 's/^prometheus, version \([^ ]*\).*/\1/p'), jaeger $JAEGER_MODULE_VERSION ($BIN_DIR/jaeger)"
