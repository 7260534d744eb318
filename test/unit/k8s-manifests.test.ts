/**
 * The Kubernetes manifests of `infra/k8s/` (kustomize base + overlays), checked without a cluster:
 * each overlay is rendered (a small kustomize of the features the overlays use; compared with
 * `kubectl kustomize` where kubectl is installed), then every object's structure is checked:
 * probes on the services' health endpoints, resources, non-root security context, a grace
 * period longer than the drain, PodDisruptionBudgets, HPAs and Services that select the pods
 * and reach declared ports, and every environment variable set is one the service reads.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { parseAllDocuments, parse as parseYaml } from "yaml"

type K8sObject = {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string> }
  // biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML
  [key: string]: any
}

const root = fileURLToPath(new URL("../..", import.meta.url))
const k8s = join(root, "infra/k8s")
const overlays = ["dev", "production"]

// --- rendering ----------------------------------------------------------------------------------

const readObjects = (file: string): Array<K8sObject> =>
  parseAllDocuments(readFileSync(file, "utf8"))
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null)

const literalsOf = (literals: ReadonlyArray<string> = []) =>
  Object.fromEntries(
    literals.map((literal) => [literal.slice(0, literal.indexOf("=")), literal.slice(literal.indexOf("=") + 1)]),
  )

/** `kustomize build` of `directory`, for the features these kustomizations use (any other fails). */
const render = (directory: string): Array<K8sObject> => {
  const kustomization = parseYaml(readFileSync(join(directory, "kustomization.yaml"), "utf8"))
  const known = [
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "labels",
    "replicas",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
  ]
  const unknown = Object.keys(kustomization).filter((key) => !known.includes(key))
  if (unknown.length > 0) throw new Error(`${relative(root, directory)}: unsupported ${unknown.join(", ")}`)
  if (kustomization.generatorOptions?.disableNameSuffixHash !== true && kustomization.generatorOptions !== undefined) {
    throw new Error("generated names must not be hashed")
  }
  let objects: Array<K8sObject> = []
  for (const resource of kustomization.resources ?? []) {
    const path = join(directory, resource)
    objects.push(...(statSync(path).isDirectory() ? render(path) : readObjects(path)))
  }
  for (const generator of kustomization.configMapGenerator ?? []) {
    const existing = objects.find((object) => object.kind === "ConfigMap" && object.metadata.name === generator.name)
    if (generator.behavior === "merge") {
      if (existing === undefined) throw new Error(`nothing to merge into: ConfigMap ${generator.name}`)
      existing.data = { ...existing.data, ...literalsOf(generator.literals) }
    } else {
      objects.push({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: generator.name },
        data: literalsOf(generator.literals),
      })
    }
  }
  for (const generator of kustomization.secretGenerator ?? []) {
    const data = Object.fromEntries(
      Object.entries(literalsOf(generator.literals)).map(([key, value]) => [
        key,
        Buffer.from(value).toString("base64"),
      ]),
    )
    objects.push({ apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: { name: generator.name }, data })
  }
  for (const { name, count } of kustomization.replicas ?? []) {
    const target = objects.find((object) => object.kind === "Deployment" && object.metadata.name === name)
    if (target === undefined) throw new Error(`replicas: no Deployment ${name}`)
    target.spec.replicas = count
  }
  for (const image of kustomization.images ?? []) {
    for (const container of objects.flatMap((object) => object.spec?.template?.spec?.containers ?? [])) {
      const [name, tag] = String(container.image).split(":")
      if (name !== image.name) continue
      container.image = `${image.newName ?? name}:${image.newTag ?? tag}`
    }
  }
  for (const { pairs } of kustomization.labels ?? []) {
    for (const object of objects) object.metadata.labels = { ...object.metadata.labels, ...pairs }
  }
  if (kustomization.namespace !== undefined) {
    objects = objects.map((object) =>
      object.kind === "Namespace"
        ? object
        : { ...object, metadata: { ...object.metadata, namespace: kustomization.namespace } },
    )
  }
  return objects
}

const rendered = Object.fromEntries(overlays.map((overlay) => [overlay, render(join(k8s, "overlays", overlay))]))

// --- what the services read ---------------------------------------------------------------------

const sourceFiles = (directory: string): Array<string> =>
  readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name)
    if (entry.isDirectory()) return entry.name === "generated" ? [] : sourceFiles(path)
    return entry.name.endsWith(".ts") ? [path] : []
  })

/** Every upper-case name quoted in the service's and the shared sources (config keys are read by name). */
const namesRead = (service: string): Set<string> => {
  const names = new Set<string>()
  for (const file of [...sourceFiles(join(root, service, "src")), ...sourceFiles(join(root, "shared/src"))]) {
    for (const match of readFileSync(file, "utf8").matchAll(
      /["'`]([A-Z][A-Z0-9_]{2,})["'`]|process\.env\.([A-Z0-9_]+)/g,
    )) {
      names.add(match[1] ?? (match[2] as string))
    }
  }
  return names
}

/** Set for Node itself, not read by the service. */
const readByNode = new Set(["NODE_OPTIONS"])

/** A Kubernetes memory quantity (`2Gi`, `512Mi`) in MiB. */
const mebibytes = (quantity: string) => {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity)
  if (match === null) throw new Error(`unexpected memory quantity ${quantity}`)
  return Number(match[1]) * (match[2] === "Gi" ? 1024 : 1)
}

const ofKind = (objects: ReadonlyArray<K8sObject>, kind: string) => objects.filter((object) => object.kind === kind)
const named = (objects: ReadonlyArray<K8sObject>, kind: string, name: string) => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name}`)
  return found
}
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value)

const apiVersions: Record<string, string> = {
  Namespace: "v1",
  ConfigMap: "v1",
  Secret: "v1",
  Service: "v1",
  Deployment: "apps/v1",
  StatefulSet: "apps/v1",
  PodDisruptionBudget: "policy/v1",
  HorizontalPodAutoscaler: "autoscaling/v2",
  NetworkPolicy: "networking.k8s.io/v1",
}

const healthPort: Record<string, { http: number; grpc: number }> = {
  requestor: { http: 8000, grpc: 50052 },
  processor: { http: 8001, grpc: 50051 },
}

describe.each(overlays)("infra/k8s/overlays/%s", (overlay) => {
  const objects = rendered[overlay] as Array<K8sObject>

  it("renders objects of known kinds and API versions, each named once", () => {
    const keys = objects.map((object) => `${object.kind}/${object.metadata.name}`)
    expect(new Set(keys).size).toBe(keys.length)
    for (const object of objects) {
      expect(apiVersions[object.kind], `${object.kind} ${object.metadata.name}`).toBe(object.apiVersion)
      expect(object.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
    }
  })

  it.skipIf(spawnSync("kubectl", ["version", "--client"]).status !== 0)("renders the same as kubectl kustomize", () => {
    const output = execFileSync("kubectl", ["kustomize", join(k8s, "overlays", overlay)], { encoding: "utf8" })
    const theirs = parseAllDocuments(output).map((document) => document.toJS() as K8sObject)
    const summary = (list: ReadonlyArray<K8sObject>) =>
      list
        .map((object) => ({
          id: `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`,
          data: object.data,
          replicas: object.spec?.replicas,
          images: (object.spec?.template?.spec?.containers ?? []).map(
            (container: { image: string }) => container.image,
          ),
        }))
        .sort((a, b) => a.id.localeCompare(b.id))
    expect(summary(objects)).toEqual(summary(theirs))
  })

  for (const service of ["requestor", "processor"] as const) {
    describe(service, () => {
      const deployment = named(objects, "Deployment", service)
      const pod = deployment.spec.template
      const container = pod.spec.containers.find((candidate: { name: string }) => candidate.name === service)
      const ports = Object.fromEntries(
        container.ports.map((port: { name: string; containerPort: number }) => [port.name, port.containerPort]),
      )

      it("listens where the service does, probed on /healthz and /readyz (and gRPC health for the processor)", () => {
        expect(ports).toEqual(healthPort[service])
        expect(container.livenessProbe.httpGet).toMatchObject({ path: "/healthz", port: "http" })
        expect(container.readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: "http" })
        if (service === "processor") expect(container.startupProbe.grpc).toEqual({ port: ports.grpc })
        expect(pod.metadata.annotations).toMatchObject({
          "prometheus.io/scrape": "true",
          "prometheus.io/port": String(ports.http),
          "prometheus.io/path": "/metrics",
        })
      })

      it("has resource requests and limits and runs as non-root without privileges", () => {
        expect(container.resources.requests).toHaveProperty("cpu")
        expect(container.resources.requests).toHaveProperty("memory")
        expect(container.resources.limits).toHaveProperty("memory")
        expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true })
        expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0)
        expect(container.securityContext).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        })
      })

      it("sizes V8's heap to the memory limit, with room for what lives outside it", () => {
        const limitMiB = mebibytes(container.resources.limits.memory)
        const options = container.env?.find((variable: { name: string }) => variable.name === "NODE_OPTIONS")?.value
        const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options ?? "")?.[1])
        // Node's own default in a cgroup is about half the limit: too small for the fan-out.
        expect(heapMiB).toBeGreaterThan(limitMiB / 2)
        expect(heapMiB).toBeLessThanOrEqual(limitMiB - 256)
      })

      it("gives SIGTERM's drain time to finish before the kill", () => {
        const config = named(objects, "ConfigMap", `${service}-config`)
        const drain = Number(config.data.DRAIN_TIMEOUT_SECONDS ?? 10)
        expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(drain + 10)
      })

      it("is covered by a PodDisruptionBudget, an HPA and Services reaching declared ports", () => {
        const labels = pod.metadata.labels
        expect(selects(deployment.spec.selector.matchLabels, labels)).toBe(true)
        const budgets = ofKind(objects, "PodDisruptionBudget").filter((budget) =>
          selects(budget.spec.selector.matchLabels, labels),
        )
        expect(budgets).toHaveLength(1)
        const autoscalers = ofKind(objects, "HorizontalPodAutoscaler").filter(
          (hpa) => hpa.spec.scaleTargetRef.kind === "Deployment" && hpa.spec.scaleTargetRef.name === service,
        )
        expect(autoscalers).toHaveLength(1)
        expect(autoscalers[0]?.spec.minReplicas).toBeGreaterThanOrEqual(2)
        const services = ofKind(objects, "Service").filter((candidate) => selects(candidate.spec.selector, labels))
        expect(services.length).toBeGreaterThan(0)
        for (const candidate of services) {
          for (const port of candidate.spec.ports) expect(Object.keys(ports)).toContain(port.targetPort)
        }
        if (service === "processor") {
          const headless = services.find((candidate) => candidate.spec.clusterIP === "None")
          expect(headless?.spec.ports.map((port: { port: number }) => port.port)).toContain(ports.grpc)
        }
        expect(
          ofKind(objects, "NetworkPolicy").some((policy) => selects(policy.spec.podSelector.matchLabels, labels)),
        ).toBe(true)
      })

      it("sets only environment variables the service reads, from objects that exist (or the operator's Secret)", () => {
        const read = namesRead(service)
        const set: Array<string> = []
        for (const source of container.envFrom ?? []) {
          const config = named(objects, "ConfigMap", source.configMapRef.name)
          set.push(...Object.keys(config.data))
        }
        for (const variable of container.env ?? []) {
          set.push(variable.name)
          const secret = variable.valueFrom?.secretKeyRef
          if (secret !== undefined && overlay === "dev") {
            expect(Object.keys(named(objects, "Secret", secret.name).data)).toContain(secret.key)
          }
        }
        expect(set.filter((name) => !read.has(name) && !readByNode.has(name))).toEqual([])
        expect(set).toEqual(expect.arrayContaining(["REDIS_URL", "BROKER_URL", "HTTP_HOST", "DRAIN_TIMEOUT_SECONDS"]))
      })
    })
  }

  it("points the requestor at every processor through the headless gRPC Service", () => {
    const url = named(objects, "ConfigMap", "requestor-config").data.PROCESSOR_GRPC_URL as string
    const [host, port] = url.split(":")
    const target = named(objects, "Service", host as string)
    expect(target.spec.clusterIP).toBe("None")
    expect(target.spec.ports.map((candidate: { port: number }) => String(candidate.port))).toContain(port)
  })

  it.runIf(overlay === "dev")("has the Redis and Kafka the services are pointed at", () => {
    const secret = named(objects, "Secret", "dcent-redis")
    const redis = new URL(Buffer.from(secret.data.REDIS_URL, "base64").toString())
    const broker = new URL(named(objects, "ConfigMap", "processor-config").data.BROKER_URL)
    for (const address of [redis, broker]) {
      const target = named(objects, "Service", address.hostname)
      expect(target.spec.ports.map((port: { port: number }) => String(port.port))).toContain(address.port)
      expect(
        ofKind(objects, "StatefulSet").some((set) => selects(target.spec.selector, set.spec.template.metadata.labels)),
      ).toBe(true)
    }
  })
})
