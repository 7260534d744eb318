#!/usr/bin/env bash
# `make certs`: a local CA and one certificate per service, for TLS and mutual TLS between the
# services (README "Security"). Written to CERTS_DIR (default certs/, git-ignored); existing files
# are kept unless FORCE=1. processor, requestor, client, kafka and redis certificates; each is valid for localhost, 127.0.0.1, ::1 and the
# service names of the compose/k8s paths, for server and client use (the requestor presents its
# certificate to the processor).
#
#   TLS_CA_FILE=certs/ca.crt TLS_CERT_FILE=certs/processor.crt TLS_KEY_FILE=certs/processor.key
#   TLS_CA_FILE=certs/ca.crt TLS_CERT_FILE=certs/requestor.crt TLS_KEY_FILE=certs/requestor.key
set -euo pipefail

dir="${CERTS_DIR:-certs}"
days="${CERTS_DAYS:-825}"
mkdir -p "$dir"
chmod 700 "$dir"

if [[ -f "$dir/ca.crt" && "${FORCE:-0}" != "1" ]]; then
  echo "[certs] $dir/ca.crt exists; keeping it (FORCE=1 to create new ones)"
  exit 0
fi

umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=dCent local CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

for name in processor requestor client kafka redis; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=dcent-$name" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -out "$dir/$name.crt" -extfile <(
      printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth,clientAuth" \
        "subjectAltName=DNS:localhost,DNS:$name,DNS:dcent-$name,IP:127.0.0.1,IP:::1"
    ) 2>/dev/null
  rm -f "$dir/$name.csr"
done
rm -f "$dir/ca.srl"
chmod 644 "$dir"/*.crt
echo "[certs] CA, processor, requestor, client, kafka and redis certificates in $dir/ (keys readable by you only)"
