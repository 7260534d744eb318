/**
 * `make chaos`: the full fault-injection run (`CHAOS_ROUNDS` rounds of every fault kind, 20 by
 * default), the table printed and written as JSON to `test/chaos/.results/last.json`. Exits 1
 * when any event was lost, duplicated or out of order at a stream consumer, or missing from a
 * topic. Settings: see `optionsFromEnv` in ./suite.ts (`CHAOS_ROUNDS`, `CHAOS_KINDS`,
 * `CHAOS_LANES`, `CHAOS_MAX_MINUTES`, …).
 */
import { repoRoot } from "../support/processes.ts"
import { chaosDown } from "./infra.ts"
import { optionsFromEnv, runChaos } from "./suite.ts"

const resultsFile = process.env.CHAOS_RESULTS_FILE ?? `${repoRoot}test/chaos/.results/last.json`
const options = optionsFromEnv({ resultsFile })
let code = 1
try {
  const result = await runChaos(options)
  console.log(`\n${result.table}\n`)
  for (const finding of result.analysis.findings.slice(0, 40)) {
    console.log(`  [${finding.kind}] ${finding.orderReqId}: ${finding.what}`)
  }
  console.log(`results: ${resultsFile}`)
  console.log(
    result.violations === 0
      ? "chaos: PASS (0 lost, 0 duplicated/out of order, 0 missing from topics)"
      : `chaos: FAIL (${result.violations} violations)`,
  )
  code = result.violations === 0 ? 0 : 1
} catch (error) {
  console.error("chaos: the run failed:", error)
} finally {
  if (process.env.CHAOS_KEEP_INFRA !== "1") await chaosDown()
}
process.exit(code)
