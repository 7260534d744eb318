/**
 * TLS between the services and on their public servers (both services; README "Security"):
 *
 * | variable | meaning |
 * | --- | --- |
 * | `TLS_CERT_FILE`, `TLS_KEY_FILE` | this service's certificate (PEM, chain allowed) and key; both or neither. Set: the REST server serves https, the gRPC servers TLS; the requestor presents it to the processor |
 * | `TLS_CA_FILE` | the CA (PEM) of the services' certificates. On the processor: its gRPC server requires a client certificate signed by it (mutual TLS). On the requestor: the processor's certificate must be signed by it |
 *
 * The files are read once at start-up; a missing or unreadable file fails start-up naming the
 * variable (never printing the file's content). Certificates: `make certs` (`scripts/certs.sh`).
 */
import { readFileSync } from "node:fs"
import { ChannelCredentials, ServerCredentials } from "@grpc/grpc-js"
import { Config, Effect, Option } from "effect"
import { configFailure } from "./errors.ts"

export interface TlsFiles {
  /** PEM of the CA; absent: the system's roots (client side), no client certificates asked for (server side). */
  readonly ca?: Buffer
  /** This service's certificate and key (both or neither). */
  readonly cert?: Buffer
  readonly key?: Buffer
}

const readPem = (name: string, path: Option.Option<string>) =>
  Option.match(path, {
    onNone: () => Effect.succeed(undefined),
    onSome: (file) =>
      Effect.try({
        try: () => readFileSync(file),
        catch: (cause) => (cause instanceof Error && "code" in cause ? String(cause.code) : "unreadable"),
      }).pipe(
        Effect.flatMap((pem) =>
          /-----BEGIN [A-Z ]+-----/.test(pem.toString("latin1"))
            ? Effect.succeed(pem)
            : configFailure(`${name} (${file}) is not a PEM file`),
        ),
        Effect.catch((code) =>
          typeof code === "string" ? configFailure(`${name} (${file}): ${code}`) : Effect.fail(code),
        ),
      ),
  })

/** `TLS_CA_FILE`, `TLS_CERT_FILE`, `TLS_KEY_FILE`: none set → `undefined` (plain TCP everywhere). */
export const tlsConfig: Config.Config<TlsFiles | undefined> = Config.all({
  ca: Config.option(Config.NonEmptyString("TLS_CA_FILE")),
  cert: Config.option(Config.NonEmptyString("TLS_CERT_FILE")),
  key: Config.option(Config.NonEmptyString("TLS_KEY_FILE")),
}).pipe(
  Config.mapEffect((paths) =>
    Effect.gen(function* () {
      if (Option.isSome(paths.cert) !== Option.isSome(paths.key)) {
        return yield* configFailure(
          `${Option.isSome(paths.cert) ? "TLS_KEY_FILE" : "TLS_CERT_FILE"} is required with ${Option.isSome(paths.cert) ? "TLS_CERT_FILE" : "TLS_KEY_FILE"}`,
        )
      }
      const ca = yield* readPem("TLS_CA_FILE", paths.ca)
      const cert = yield* readPem("TLS_CERT_FILE", paths.cert)
      const key = yield* readPem("TLS_KEY_FILE", paths.key)
      if (ca === undefined && cert === undefined) return undefined
      return {
        ...(ca === undefined ? {} : { ca }),
        ...(cert === undefined ? {} : { cert }),
        ...(key === undefined ? {} : { key }),
      } satisfies TlsFiles
    }),
  ),
)

/** Whether the servers serve TLS (a certificate is configured). */
export const servesTls = (tls: TlsFiles | undefined): tls is TlsFiles & { cert: Buffer; key: Buffer } =>
  tls?.cert !== undefined && tls.key !== undefined

/**
 * gRPC server credentials: TLS with this service's certificate when one is configured; with
 * `requireClientCertificate` and a CA, mutual TLS (a client without a certificate signed by the CA
 * is refused during the handshake). `undefined`: plain TCP.
 */
export const grpcServerCredentials = (
  tls: TlsFiles | undefined,
  options: { readonly requireClientCertificate: boolean },
): ServerCredentials | undefined => {
  if (!servesTls(tls)) return undefined
  const verifyClients = options.requireClientCertificate && tls.ca !== undefined
  return ServerCredentials.createSsl(
    verifyClients ? (tls.ca ?? null) : null,
    [{ private_key: tls.key, cert_chain: tls.cert }],
    verifyClients,
  )
}

/** gRPC channel credentials of a client: the CA to trust and this service's certificate (mutual TLS). */
export const grpcChannelCredentials = (tls: TlsFiles | undefined): ChannelCredentials | undefined =>
  tls === undefined ? undefined : ChannelCredentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
