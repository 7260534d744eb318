/**
 * The third-party tools `make test` runs against the project's own files and servers (kustomize,
 * kubeconform, actionlint, grpcurl, the Python grpcio-reflection client), installed by
 * `scripts/install-tool-checks.sh` (run by `make test`) into the cache outside git. A missing tool
 * fails the test with that hint, never skips it.
 */
import { execFile } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

const cacheDir = () => process.env.DCENT_CACHE_DIR ?? join(homedir(), ".cache", "dcent")
const hint = "install it with `bash scripts/install-tool-checks.sh` (`make test` does)"

const requireFile = (path: string, what: string) => {
  try {
    accessSync(path, constants.R_OK)
    return path
  } catch {
    throw new Error(`${what} is not installed (${path}): ${hint}`)
  }
}

/** `kustomize`, `kubeconform`, `actionlint` or `grpcurl` in the cache's bin/. */
export const toolPath = (name: "kustomize" | "kubeconform" | "actionlint" | "grpcurl") =>
  requireFile(join(cacheDir(), "bin", name), `\`${name}\``)

/** The Python of the venv holding `grpcio-reflection`. */
export const reflectionPython = () =>
  requireFile(join(cacheDir(), "venv-grpcio-reflection", "bin", "python"), "the grpcio-reflection venv")

/** The kubeconform schema location of the Kubernetes JSON schemas generated from `k8s.io/api` `version`. */
export const kubernetesSchemaLocation = (version: string) => {
  const dir = join(cacheDir(), "k8s-schemas", version)
  requireFile(join(dir, "deployment-apps-v1.json"), `the Kubernetes ${version} schemas`)
  return `${dir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`
}

export interface ToolRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs `command` to its end (killed after `timeoutMs`), feeding it `input` on stdin. */
export const runTool = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly cwd?: string; readonly timeoutMs?: number } = {},
): Promise<ToolRun> =>
  new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== "number") {
          reject(new Error(`${command} ${args.join(" ")}: ${error.message}\n${stderr}`))
          return
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr })
      },
    )
    child.stdin?.end(options.input ?? "")
  })
