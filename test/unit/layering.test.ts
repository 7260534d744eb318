import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

// The generic building blocks of shared/ never import the order domain nor a service: they take
// what they need as parameters (codecs, callbacks), so the dependency points one way only.
const root = fileURLToPath(new URL("../..", import.meta.url))

/** Folders of shared/src that know nothing of orders (shared/src/orders and demo do). */
const genericFolders = [
  "admission",
  "archive",
  "auth",
  "bootstrap",
  "broker",
  "concurrency",
  "config",
  "coordination",
  "eventlog",
  "grpc",
  "health",
  "http",
  "metrics",
  "outbox",
  "ratelimit",
  "redis",
  "resilience",
  "runtime",
  "telemetry",
] as const

/** Where a generic file must not reach, as repository paths and package specifiers. */
const forbiddenPaths = ["shared/src/orders/", "shared/src/generated/dcent/orders/", "requestor/", "processor/"]
const forbiddenPackages = [
  "@dcent/shared/orders/",
  "@dcent/shared/generated/dcent/orders/",
  "@dcent/requestor",
  "@dcent/processor",
]

const sourceFiles = (folder: string): Array<string> =>
  readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|cts|js)$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))

/** Every module specifier of `source`: static imports and re-exports, `import type`, dynamic `import()`. */
const specifiersOf = (source: string): Array<string> => {
  const found: Array<string> = []
  const patterns = [/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(?\s*['"]([^'"]+)['"]/g]
  for (const pattern of patterns) {
    for (const match of source.matchAll(pattern)) found.push(match[1] as string)
  }
  return found
}

/** The domain module `specifier` (imported by `file`) reaches, or undefined when it stays generic. */
const forbiddenTarget = (file: string, specifier: string): string | undefined => {
  if (specifier.startsWith(".")) {
    const target = relative(root, resolve(dirname(file), specifier))
      .split("\\")
      .join("/")
    return forbiddenPaths.some((path) => target === path.slice(0, -1) || target.startsWith(path)) ? target : undefined
  }
  return forbiddenPackages.some(
    (name) => specifier === name || specifier.startsWith(name.endsWith("/") ? name : `${name}/`),
  )
    ? specifier
    : undefined
}

describe("layering: generic shared folders do not import the order domain", () => {
  it("recognises imports into the domain (the check itself can fail)", () => {
    const file = join(root, "shared/src/eventlog/Example.ts")
    const source = [
      `import { EventDraft } from "../orders/events.ts"`,
      `import type {`,
      `  OrderEventRecord,`,
      `} from "../orders/events.ts"`,
      `export { Orders } from "@dcent/processor/orders/Orders"`,
      `const lazy = () => import("../../../requestor/src/main.ts")`,
      `import { Redis } from "../redis/Redis.ts"`,
    ].join("\n")
    const hits = specifiersOf(source).flatMap((specifier) => forbiddenTarget(file, specifier) ?? [])
    expect(hits).toEqual([
      "shared/src/orders/events.ts",
      "shared/src/orders/events.ts",
      "@dcent/processor/orders/Orders",
      "requestor/src/main.ts",
    ])
  })

  it.each(genericFolders)("shared/src/%s imports nothing from orders/, requestor/ or processor/", (folder) => {
    const files = sourceFiles(join(root, "shared/src", folder))
    expect(files.length).toBeGreaterThan(0)
    const violations = files.flatMap((file) =>
      specifiersOf(readFileSync(file, "utf8")).flatMap((specifier) => {
        const target = forbiddenTarget(file, specifier)
        return target === undefined ? [] : [`${relative(root, file)} → ${target}`]
      }),
    )
    expect(violations).toEqual([])
  })
})
