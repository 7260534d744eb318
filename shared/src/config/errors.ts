import { Config, ConfigProvider, Effect, SchemaIssue } from "effect"

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Variables whose values must not be echoed back (they may carry credentials). */
const secretName = /PASSWORD|SECRET|TOKEN|CREDENTIAL|API_KEY/i

/** Shows a value in an error message; URLs lose their user-info (`redis://:pw@h` → `redis://***@h`). */
const showValue = (name: string, value: string): string => {
  if (secretName.test(name)) return "(hidden)"
  const masked = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1***@")
  return JSON.stringify(masked.length > 80 ? `${masked.slice(0, 77)}...` : masked)
}

/**
 * One line naming the variable and what is wrong with it, e.g.
 * `PROCESSOR_HTTP_PORT="abc": Expected a string representing a finite number`.
 */
export const formatConfigError = (
  error: Config.ConfigError,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string => {
  const cause = error.cause
  if (cause._tag !== "SchemaError") return cause.message
  const { issues } = formatter(cause.issue)
  return issues
    .map(({ path, message }) => {
      const name = (path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")
      if (name === "") return message
      const value = env[name]
      if (value === undefined) return `${name} is required but not set (${message})`
      return `${name}=${showValue(name, value)}: ${message}`
    })
    .join("; ")
}

/** A configuration value that parsed but is not allowed (a range, a scheme): fails the service's start. */
export const configFailure = (message: string) =>
  Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message })))
