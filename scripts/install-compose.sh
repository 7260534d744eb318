#!/usr/bin/env bash
# The docker client on this kind of machine has no Compose plugin and there is no Docker engine,
# but `docker compose config` needs only the plugin. When docker exists and compose does not,
# build the plugin from the Go module proxy (about 2 minutes, once) into ~/.docker/cli-plugins.
set -euo pipefail
readonly COMPOSE_VERSION=v2.40.3
readonly PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

command -v docker >/dev/null 2>&1 || exit 0
docker compose version >/dev/null 2>&1 && exit 0
if ! command -v go >/dev/null 2>&1; then
  echo "[install] docker compose plugin missing and no Go toolchain to build it: the compose check will be skipped"
  exit 0
fi

echo "[install] building the docker compose plugin $COMPOSE_VERSION (once, ~2 min)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# `go install` refuses compose's go.mod (it has exclude directives), so build it from a module
# that depends on it.
(
  cd "$work"
  go mod init compose-plugin-build >/dev/null 2>&1
  go get "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION" >/dev/null 2>&1
  go build -trimpath -ldflags "-s -w" -o docker-compose github.com/docker/compose/v2/cmd
) || { echo "[install] could not build the compose plugin: the compose check will be skipped"; exit 0; }
mkdir -p "$PLUGIN_DIR"
install -m 0755 "$work/docker-compose" "$PLUGIN_DIR/docker-compose"
docker compose version
