/**
 * Benchmark settings from the environment. Every size and duration has a full default (what
 * `make bench` runs) and a short one (`BENCH_SHORT=1`: tiny counts and a few seconds, what the
 * smoke test in `make test` runs). A variable set explicitly wins over both.
 */

export class ConfigError extends Error {}

/** `BENCH_SHORT=1` (or `true`): the short form. */
export const isShort = ["1", "true", "yes"].includes((process.env.BENCH_SHORT ?? "").toLowerCase())

const raw = (name: string) => {
  const value = process.env[name]
  return value === undefined || value.trim() === "" ? undefined : value.trim()
}

/** A number from `name`, else `full` (or `short` in the short form); at least `minimum`. */
export const numberEnv = (name: string, full: number, short: number = full, minimum = 0): number => {
  const text = raw(name)
  if (text === undefined) return isShort ? short : full
  const value = Number(text)
  if (!Number.isFinite(value) || value < minimum)
    throw new ConfigError(`${name}=${text}: expected a number >= ${minimum}`)
  return value
}

/** Like `numberEnv`, for whole numbers. */
export const intEnv = (name: string, full: number, short: number = full, minimum = 0): number => {
  const value = numberEnv(name, full, short, minimum)
  if (!Number.isInteger(value)) throw new ConfigError(`${name}=${raw(name)}: expected a whole number`)
  return value
}

/** A comma-separated list of whole numbers (`10000,50000`); `10k` and `1m` are accepted. */
export const intListEnv = (name: string, full: ReadonlyArray<number>, short: ReadonlyArray<number>) => {
  const text = raw(name)
  if (text === undefined) return isShort ? short : full
  return text.split(",").map((item) => {
    const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(item.trim())
    const value =
      match === null ? Number.NaN : Number(match[1]) * ({ k: 1_000, m: 1_000_000 }[match[2]?.toLowerCase() ?? ""] ?? 1)
    if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${name}=${text}: expected whole numbers >= 1`)
    return value
  })
}

/** A plain string setting. */
export const stringEnv = (name: string): string | undefined => raw(name)
