#!/usr/bin/env bash
# `make test`: the whole suite as two vitest processes side by side (see the lanes in
# vitest.config.ts). The `shared-infra` lane (integration, integration-cluster and the e2e files on
# the shared Redis) prints as it goes; the `own-infra` lane (unit, chaos and the e2e files with a
# private Redis) writes to a log that is printed when both have finished. Either failing fails
# the run. Extra arguments (e.g. a file filter) go to both vitest runs; a lane with no matching
# file passes.
set -euo pipefail
cd "$(dirname "$0")/.."

log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT
started=$SECONDS

DCENT_TEST_LANE=own-infra vitest run --passWithNoTests --project unit --project chaos --project e2e "$@" \
  >"$log_dir/own-infra.log" 2>&1 &
own_infra=$!

shared_status=0
DCENT_TEST_LANE=shared-infra vitest run --passWithNoTests --project integration --project integration-cluster --project e2e "$@" ||
  shared_status=$?

own_status=0
wait "$own_infra" || own_status=$?

echo
echo "[test] ---- own-infra lane (unit, chaos, e2e on private Redis) ----"
cat "$log_dir/own-infra.log"
echo "[test] shared-infra lane exit ${shared_status}, own-infra lane exit ${own_status}, whole run $((SECONDS - started)) s"
[[ "$shared_status" == 0 && "$own_status" == 0 ]]
