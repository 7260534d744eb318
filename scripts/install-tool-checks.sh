#!/usr/bin/env bash
# Installs the third-party tools that `make test` runs against the project's own files and
# servers, idempotently (a second run is a quick no-op), into the cache outside git,
# ${DCENT_CACHE_DIR:-~/.cache/dcent}:
#   - kustomize, kubeconform, actionlint, grpcurl: `go install` from the Go module proxy into bin/
#     (pinned versions below, each with a version stamp);
#   - the Kubernetes JSON schemas kubeconform validates against, generated offline from the
#     pinned k8s.io/api module (scripts/k8s-schemas: openapi-gen + a small converter) into
#     k8s-schemas/<k8s.io/api version>/;
#   - the Python `grpcio-reflection` client (PyPI) in a venv, venv-grpcio-reflection/.
# Building everything once takes a few minutes; then each run costs well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly KUSTOMIZE_VERSION=v5.8.1
readonly KUBECONFORM_VERSION=v0.7.0
readonly ACTIONLINT_VERSION=v1.7.12
readonly GRPCURL_VERSION=v1.9.3
readonly GRPCIO_REFLECTION_VERSION=1.85.1

readonly CACHE_DIR="${DCENT_CACHE_DIR:-$HOME/.cache/dcent}"
readonly BIN_DIR="$CACHE_DIR/bin"
readonly SCHEMAS_MODULE="$PWD/scripts/k8s-schemas"
K8S_API_VERSION="$(sed -n 's/^\tk8s.io\/api \(v[^ ]*\).*/\1/p' "$SCHEMAS_MODULE/go.mod")"
readonly K8S_API_VERSION
readonly SCHEMAS_DIR="$CACHE_DIR/k8s-schemas/$K8S_API_VERSION"
readonly VENV_DIR="$CACHE_DIR/venv-grpcio-reflection"

# Go: the machine's own, if it is new enough for what it builds (k8s.io/api needs 1.26); an older
# one fetches the Go toolchain that go.mod names from the module proxy (GOTOOLCHAIN=auto, Go's default).

log() { printf '[tool-checks] %s\n' "$*"; }
die() { printf '[tool-checks] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BIN_DIR"
# Two concurrent runs (parallel make targets, two work trees) must not both build.
exec 9>"$BIN_DIR/.tool-checks.lock"
flock -w 1200 9 || die "another install is still running ($BIN_DIR/.tool-checks.lock)"

require_go() {
  command -v go >/dev/null 2>&1 || die "these tools are built with Go, which is not installed: install Go (Debian: golang-go), then re-run"
}

# go_tool NAME PACKAGE VERSION: `go install PACKAGE@VERSION` into $BIN_DIR unless that version is there.
go_tool() {
  local name="$1" package="$2" version="$3" stamp="$BIN_DIR/.$1-version"
  if [ -x "$BIN_DIR/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return 0; fi
  require_go
  log "go install $package@$version"
  GOBIN="$BIN_DIR" go install -trimpath -ldflags "-s -w" "$package@$version" 2>&1 | grep -v '^go: downloading' || true
  [ -x "$BIN_DIR/$name" ] || die "could not build $name (see above)"
  echo "$version" >"$stamp"
}

# One standalone strict JSON schema per kind of the pinned Kubernetes API, as kubeconform reads
# them: openapi-gen (k8s.io/kube-openapi, pinned by the module's go.mod) turns the k8s.io/api Go
# types into OpenAPI definitions, and scripts/k8s-schemas/main.go writes them out.
k8s_schemas() {
  local stamp="$SCHEMAS_DIR/.complete" digest
  digest="$(cat "$SCHEMAS_MODULE"/go.mod "$SCHEMAS_MODULE"/go.sum "$SCHEMAS_MODULE"/*.go | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then return 0; fi
  require_go
  log "generating the Kubernetes $K8S_API_VERSION JSON schemas from k8s.io/api (once, about a minute)"
  local work
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand $work now
  trap "rm -rf '$work'" EXIT
  cp "$SCHEMAS_MODULE"/go.mod "$SCHEMAS_MODULE"/go.sum "$SCHEMAS_MODULE"/*.go "$work/"
  (
    cd "$work"
    go run k8s.io/kube-openapi/cmd/openapi-gen \
      --output-dir ./openapi --output-pkg dcent/k8s-schemas/openapi --output-file zz_generated.openapi.go \
      --go-header-file /dev/null --report-filename /dev/null \
      k8s.io/api/... k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/api/resource \
      k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version \
      2>&1 | grep -v '^go: downloading' || true
    [ -s openapi/zz_generated.openapi.go ] || exit 1
    rm -rf "$SCHEMAS_DIR.tmp"
    go run . "$SCHEMAS_DIR.tmp"
  ) || die "could not generate the Kubernetes schemas (see above)"
  rm -rf "$SCHEMAS_DIR" "$work"
  mv "$SCHEMAS_DIR.tmp" "$SCHEMAS_DIR"
  echo "$digest" >"$stamp"
}

grpcio_reflection() {
  local stamp="$VENV_DIR/.version"
  if [ -x "$VENV_DIR/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$GRPCIO_REFLECTION_VERSION" ]; then return 0; fi
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
  log "pip install grpcio-reflection==$GRPCIO_REFLECTION_VERSION into $VENV_DIR"
  rm -rf "$VENV_DIR"
  python3 -m venv "$VENV_DIR" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check \
    "grpcio==$GRPCIO_REFLECTION_VERSION" "grpcio-reflection==$GRPCIO_REFLECTION_VERSION" ||
    die "could not install grpcio-reflection"
  echo "$GRPCIO_REFLECTION_VERSION" >"$stamp"
}

go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
go_tool grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
k8s_schemas
grpcio_reflection
log "kustomize $KUSTOMIZE_VERSION, kubeconform $KUBECONFORM_VERSION, actionlint $ACTIONLINT_VERSION, grpcurl $GRPCURL_VERSION, Kubernetes schemas $K8S_API_VERSION, grpcio-reflection $GRPCIO_REFLECTION_VERSION"
