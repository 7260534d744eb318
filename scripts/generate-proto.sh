#!/usr/bin/env bash
# Generates the TypeScript code and the descriptor set for the gRPC contract in proto/.
#
#   shared/src/generated/dcent/orders/v1/*.ts   ts-proto messages + nice-grpc service definitions
#   shared/src/generated/google/protobuf/*.ts    well-known types they import
#   shared/src/generated/descriptor.binpb        FileDescriptorSet (all of proto/ plus imports) for server reflection
#
# The output is git-ignored and rebuilt from scratch on every run (idempotent). Any failure —
# lint error, missing plugin, compile error in a .proto — stops the script with a non-zero exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="$ROOT/node_modules/.bin"
OUT="shared/src/generated"

die() { printf 'generate-proto: ERROR: %s\n' "$*" >&2; exit 1; }

[[ -x "$BIN/buf" ]] || die "buf not found at $BIN/buf (run npm install)"
[[ -x "$BIN/protoc-gen-ts_proto" ]] || die "protoc-gen-ts_proto not found at $BIN (run npm install)"
# ts-proto is a Node program; make sure the repo's Node is the one it runs on.
export PATH="$BIN:$PATH"

"$BIN/buf" lint proto || die "buf lint failed"

# Generate into a temporary directory first so a failed run never leaves a half-written tree.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/dcent-proto.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# Code only for our own package; the vendored grpc/health proto is there for reflection alone.
"$BIN/buf" generate proto --path proto/dcent --template proto/buf.gen.yaml --output "$TMP" || die "buf generate failed"
# The image includes imports (google/protobuf/timestamp.proto) and is a valid FileDescriptorSet.
"$BIN/buf" build proto -o "$TMP/$OUT/descriptor.binpb" || die "buf build failed"

[[ -f "$TMP/$OUT/dcent/orders/v1/order_streaming_service.ts" ]] || die "expected output missing in $TMP/$OUT"

rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
mv "$TMP/$OUT" "$OUT"

printf 'generate-proto: wrote %s\n' "$(cd "$OUT" && find . -type f | sort | tr '\n' ' ')"
