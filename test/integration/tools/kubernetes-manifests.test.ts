/**
 * The Kubernetes manifests of `infra/k8s/`, rendered by the real `kustomize` and validated by
 * `kubeconform -strict` against the JSON schemas of the pinned Kubernetes API (generated offline
 * from the `k8s.io/api` module named in scripts/k8s-schemas/go.mod), object by object: a wrong
 * type, a misspelt or unknown field, a missing required field or an unknown kind fails.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseAllDocuments, stringify } from "yaml"
import { repoRoot } from "../../support/processes.ts"
import { kubernetesSchemaLocation, runTool, toolPath } from "../../support/thirdPartyTools.ts"

const apiVersion = /^\tk8s\.io\/api (v\S+)/m.exec(
  readFileSync(join(repoRoot, "scripts/k8s-schemas/go.mod"), "utf8"),
)?.[1]

interface Summary {
  readonly valid: number
  readonly invalid: number
  readonly errors: number
  readonly skipped: number
}
interface Report {
  readonly resources: ReadonlyArray<{
    readonly kind: string
    readonly name: string
    readonly status: string
    readonly msg: string
  }>
  readonly summary: Summary
}

const render = async (overlay: string) => {
  const run = await runTool(toolPath("kustomize"), ["build", join(repoRoot, "infra/k8s/overlays", overlay)])
  expect(run.code, run.stderr).toBe(0)
  return run.stdout
}

/** kubeconform's JSON report of `manifests` (`-strict`, no schema may be missing). */
const validate = async (manifests: string): Promise<Report & { readonly code: number }> => {
  const run = await runTool(
    toolPath("kubeconform"),
    ["-strict", "-summary", "-output", "json", "-schema-location", kubernetesSchemaLocation(String(apiVersion)), "-"],
    { input: manifests },
  )
  return { ...(JSON.parse(run.stdout) as Report), code: run.code }
}

describe.each(["dev", "production"])("kustomize build infra/k8s/overlays/%s | kubeconform -strict", (overlay) => {
  it("renders objects that are all valid against the Kubernetes schemas", async () => {
    const manifests = await render(overlay)
    const objects = parseAllDocuments(manifests).filter((document) => document.contents !== null)
    const report = await validate(manifests)
    expect(report.resources.filter((resource) => resource.status !== "statusValid")).toEqual([])
    expect(report.summary).toEqual({ valid: objects.length, invalid: 0, errors: 0, skipped: 0 })
    expect(report.code).toBe(0)
    expect(objects.length).toBeGreaterThan(10)
  })
})

describe("kubeconform against the generated schemas", () => {
  it("fails a manifest with a wrong type, a misspelt field, a missing required field or an unknown kind", async () => {
    const documents = parseAllDocuments(await render("production")).map((document) => document.toJS())
    const deployment = documents.find((object) => object.kind === "Deployment")
    const named = (name: string) => ({ ...deployment.metadata, name })
    const broken = [
      { ...deployment, metadata: named("string-replicas"), spec: { ...deployment.spec, replicas: "two" } },
      { ...deployment, metadata: named("misspelt"), spec: { ...deployment.spec, replica: 2 } },
      { ...deployment, metadata: named("no-selector"), spec: { ...deployment.spec, selector: undefined } },
      { apiVersion: "apps/v1", kind: "Deploymint", metadata: { name: "unknown-kind" } },
    ]
    const report = await validate(broken.map((object) => stringify(object)).join("---\n"))
    expect(report.code).toBe(1)
    expect(report.summary).toMatchObject({ valid: 0, invalid: 3, errors: 1 })
    const messages = Object.fromEntries(report.resources.map((resource) => [resource.name, resource.msg]))
    expect(messages["string-replicas"]).toContain("at '/spec/replicas': got string, want integer")
    expect(messages.misspelt).toContain("additional properties 'replica' not allowed")
    expect(messages["no-selector"]).toContain("missing property 'selector'")
    expect(messages["unknown-kind"]).toContain("could not find schema for Deploymint")
  })
})
