/**
 * Schemathesis (PyPI), the OpenAPI-driven fuzzer, in a virtual environment cached under
 * `~/.cache/dcent` (created and installed on first use, pinned; outside the repository).
 *
 *   const st = ensureSchemathesis()   // path of its `st` command
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

export const schemathesisVersion = "4.32.5"

export const ensureSchemathesis = (): string => {
  const venv = join(
    process.env.DCENT_CACHE_DIR ?? join(homedir(), ".cache", "dcent"),
    `venv-schemathesis-${schemathesisVersion}`,
  )
  const st = join(venv, "bin", "st")
  if (existsSync(st)) return st
  execFileSync("python3", ["-m", "venv", venv], { stdio: "inherit" })
  execFileSync(
    join(venv, "bin", "pip"),
    ["install", "--quiet", "--disable-pip-version-check", `schemathesis==${schemathesisVersion}`],
    { stdio: "inherit", timeout: 600_000 },
  )
  return st
}
