/**
 * The short form of `make chaos`, run by `make test`: two processors and two requestors on the
 * chaos Kafka/Redis, a steady workload, and 2 injections of every fault kind (`CHAOS_TEST_ROUNDS`)
 * — then every count that must be zero is zero. The table is printed and written to
 * `test/chaos/.results/short.json`.
 */
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/processes.ts"
import { faultKinds } from "./faults.ts"
import { optionsFromEnv, runChaos } from "./suite.ts"

const rounds = Number(process.env.CHAOS_TEST_ROUNDS ?? 2)

describe("fault injection (short form)", () => {
  it(`${rounds} injections of each fault kind: nothing lost, duplicated, out of order or missing from topics`, async () => {
    const result = await runChaos(
      optionsFromEnv({
        rounds,
        lanes: 3,
        warmupMs: 3_000,
        settleMs: 1_500,
        maxMinutes: 8,
        resultsFile: `${repoRoot}test/chaos/.results/short.json`,
        log: (line) => console.log(`[chaos] ${line}`),
      }),
    )
    console.log(`\n${result.table}\n`)
    const findings = result.analysis.findings.map(
      (finding) => `[${finding.kind}] ${finding.orderReqId}: ${finding.what}`,
    )
    for (const kind of faultKinds) {
      expect(result.injections.filter((injection) => injection.kind === kind).length, kind).toBe(rounds)
    }
    expect(result.analysis.total.events, "the workload produced events").toBeGreaterThan(0)
    expect(result.analysis.total.acknowledged).toBeGreaterThan(0)
    expect(
      {
        lost: result.analysis.total.lost,
        duplicatedOrOutOfOrder: result.analysis.total.duplicatedOrOutOfOrder,
        missingFromTopics: result.analysis.total.missingFromTopics,
      },
      findings.slice(0, 30).join("\n"),
    ).toEqual({ lost: 0, duplicatedOrOutOfOrder: 0, missingFromTopics: 0 })
  })
})
