/**
 * The code host's CI workflows (`.github/workflows/`) pass `actionlint` (built from the Go module
 * proxy): workflow syntax, job and step keys, expressions and contexts, action inputs, and runner
 * labels. A broken workflow fails.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { repoRoot } from "../../support/processes.ts"
import { runTool, toolPath } from "../../support/thirdPartyTools.ts"

const scratch = mkdtempSync(join(tmpdir(), "dcent-actionlint-"))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** actionlint's findings (`-format '{{json .}}'`) on every workflow file in `root`/.github/workflows. */
const actionlint = async (root: string) => {
  const dir = join(root, ".github/workflows")
  const files = readdirSync(dir)
    .filter((file) => /\.ya?ml$/.test(file))
    .map((file) => join(dir, file))
  expect(files.length).toBeGreaterThan(0)
  const run = await runTool(toolPath("actionlint"), ["-no-color", "-format", "{{json .}}", ...files], { cwd: root })
  return {
    code: run.code,
    findings: JSON.parse(run.stdout || "[]") as Array<{ message: string; kind: string }>,
    stderr: run.stderr,
  }
}

describe("actionlint .github/workflows/", () => {
  it("finds no problem in the repository's workflows", async () => {
    const result = await actionlint(repoRoot)
    expect(result.findings).toEqual([])
    expect(result.code, result.stderr).toBe(0)
  })

  it("fails a workflow with an unknown context, a bad runner label and an invalid key", async () => {
    mkdirSync(join(scratch, ".github/workflows"), { recursive: true })
    writeFileSync(
      join(scratch, ".github/workflows/broken.yml"),
      [
        "on: push",
        "jobs:",
        "  test:",
        "    runs-on: ubuntu-latset",
        "    steps:",
        "      - uses: actions/checkout@v4",
        `      - run: echo ${"${{"} matrix.node }}`,
        "        timeout: 5",
        "",
      ].join("\n"),
    )
    const result = await actionlint(scratch)
    expect(result.code).toBe(1)
    const kinds = result.findings.map((finding) => finding.kind).sort()
    expect(kinds).toEqual(expect.arrayContaining(["expression", "runner-label", "syntax-check"]))
  })
})
