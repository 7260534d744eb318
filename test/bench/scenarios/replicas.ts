/**
 * `replicas`: does a second replica of each service add throughput? The write scenario's closed
 * loop on 1 processor + 1 requestor, then on 2 + 2 (processors sharing one Redis database and
 * requestors another, each requestor naming both processors in PROCESSOR_GRPC_URL; submissions,
 * initiates and watchers spread over the replicas). The baseline here is the 1 + 1 run.
 */
import { numberEnv } from "../lib/config.ts"
import { checksOk, type Figure, latencyFigures, progress, type ScenarioResult, streamErrorNote } from "../lib/report.ts"
import { round, type Scenario, type ScenarioContext, serviceCpu, skippedResult } from "../lib/scenario.ts"
import { startSystem } from "../lib/targets.ts"
import { measureWrite, type WriteRun, writeSettings } from "./write.ts"

export const replicas: Scenario = {
  name: "replicas",
  summary: "the write scenario's closed loop on 2 processors + 2 requestors against 1 + 1",
  run: async (context: ScenarioContext): Promise<ScenarioResult> => {
    const startedAt = new Date()
    const settings = {
      ...writeSettings(),
      durationMs: numberEnv("BENCH_REPLICAS_SECONDS", 20, 2, 1) * 1000,
    }
    const base = {
      scenario: "replicas",
      system: "2 processors + 2 requestors (started)",
      baselineName: "1 processor + 1 requestor, same workload and generator",
      startedAt: startedAt.toISOString(),
      settings,
    }
    if (context.external !== undefined) {
      return skippedResult(
        base,
        "replicas starts its own services (unset REQUESTOR_URL / PROCESSOR_URL / REQUESTOR_GRPC)",
      )
    }
    progress(`replicas: 1 + 1 first, then 2 + 2; ${settings.orders} orders, ${settings.concurrency} in flight`)
    const single = await measureWrite(
      await startSystem({ name: "1+1", redis: context.redis, processorDb: 8, requestorDb: 9 }),
      settings,
      { closedOnly: true },
    )
    const double = await measureWrite(
      await startSystem({
        name: "2+2",
        processors: 2,
        requestors: 2,
        redis: context.redis,
        processorDb: 10,
        requestorDb: 11,
      }),
      settings,
      { closedOnly: true },
    )
    const group = `closed loop (${settings.concurrency} in flight, ${settings.durationMs / 1000} s)`
    const latency = (run: WriteRun, channel: string) => run.session.latency(run.closed, channel)
    const topic = (run: WriteRun) => run.session.topicNames[0] ?? ""
    const figures: Array<Figure> = [
      {
        group,
        name: "accepted submissions/s",
        unit: "/s",
        value: round(double.closed.throughput, 1),
        baseline: round(single.closed.throughput, 1),
        better: "higher",
      },
      ...latencyFigures(group, "HTTP answer", double.closed.summary(), single.closed.summary(), ["p50", "p99"]),
      ...latencyFigures(group, "submit → WatchOrder", latency(double, "WatchOrder"), latency(single, "WatchOrder"), [
        "p50",
        "p99",
      ]),
      ...latencyFigures(group, "submit → SSE", latency(double, "SSE"), latency(single, "SSE"), ["p99"]),
      ...latencyFigures(
        group,
        `submit → topic ${topic(double)}`,
        latency(double, topic(double)),
        latency(single, topic(single)),
        ["p99"],
      ),
      {
        group,
        name: "service CPU (all service processes)",
        unit: "% of a core",
        value: round(serviceCpu(double.closedUsage.cpu), 1),
        baseline: round(serviceCpu(single.closedUsage.cpu), 1),
        better: "lower",
      },
    ]
    const checks = [...single.checks, ...double.checks]
    const cpu = (run: WriteRun) =>
      Object.fromEntries(Object.entries(run.closedUsage.cpu).map(([name, value]) => [name, round(value, 1)]))
    return {
      ...base,
      durationSeconds: round((Date.now() - startedAt.getTime()) / 1000, 1) ?? 0,
      figures,
      checks,
      details: {
        "2+2": { cpu: cpu(double), statuses: double.closed.statuses.toJSON(), streamErrors: double.streamErrors },
        "1+1": { cpu: cpu(single), statuses: single.closed.statuses.toJSON(), streamErrors: single.streamErrors },
      },
      notes: [
        ...streamErrorNote("1+1", single.streamErrors),
        ...streamErrorNote("2+2", double.streamErrors),
        `CPU during the closed loop, 2+2: ${JSON.stringify(cpu(double))}; 1+1: ${JSON.stringify(cpu(single))} (% of a core; the machine has 2 cores)`,
      ],
      ok: checksOk(checks) && single.drained && double.drained,
    }
  },
}
