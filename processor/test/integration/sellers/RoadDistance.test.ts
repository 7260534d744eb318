/**
 * The road-distance provider against a real local HTTP server: the documented request and
 * answer, retries, the timeout, the circuit breaker, and the straight-line fallback recorded
 * per destination.
 */
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { haversineKm } from "../../../src/sellers/distance.ts"
import { RoadDistance, type RoadDistanceOptions } from "../../../src/sellers/RoadDistance.ts"
import { places } from "../../unit/sellers/fixtures.ts"
import { type FakeServer, startFakeServer } from "./support.ts"

const servers: Array<FakeServer> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()))
})

const start = async (reply?: FakeServer["reply"]) => {
  const server = await startFakeServer(reply)
  servers.push(server)
  return server
}

const origin = places.bangalore
const destinations = [places.chennai, places.mumbai]
const straight = destinations.map((d) => haversineKm(origin, d))

/** Runs `f` against one provider instance (its breaker state lasts for the whole of `f`). */
const withProvider = <A>(
  options: RoadDistanceOptions,
  f: (road: RoadDistance["Service"]) => Effect.Effect<A>,
): Promise<A> =>
  Effect.runPromise(Effect.flatMap(RoadDistance, f).pipe(Effect.provide(RoadDistance.layerHttp(options))))

describe("RoadDistance over HTTP", () => {
  it("POSTs {origins, destinations} and uses the answered road distances", async () => {
    const server = await start(() => ({ status: 200, json: { distancesKm: [346.2, 981.4] } }))
    const distances = await withProvider({ url: `${server.origin}/distances` }, (road) =>
      road.measure(origin, destinations),
    )
    expect(distances).toEqual([
      { km: 346.2, source: "road" },
      { km: 981.4, source: "road" },
    ])
    expect(server.requests).toHaveLength(1)
    const [request] = server.requests
    expect(request?.method).toBe("POST")
    expect(request?.url).toBe("/distances")
    expect(request?.headers["content-type"]).toMatch(/^application\/json/)
    expect(JSON.parse(request?.body ?? "")).toEqual({
      origins: [{ lat: origin.Lat, lng: origin.Lng }],
      destinations: destinations.map((d) => ({ lat: d.Lat, lng: d.Lng })),
    })
  })

  it("records a destination without a road route as a straight-line fallback", async () => {
    const server = await start(() => ({ status: 200, json: { distancesKm: [346.2, null] } }))
    const distances = await withProvider({ url: server.origin }, (road) => road.measure(origin, destinations))
    expect(distances[0]).toEqual({ km: 346.2, source: "road" })
    expect(distances[1]).toEqual({ km: straight[1], source: "straight_line_fallback", reason: "no road route" })
  })

  it("retries a 503 once and then uses the answer", async () => {
    const server = await start((_, index) =>
      index === 0 ? { status: 503 } : { status: 200, json: { distancesKm: [300, 900] } },
    )
    const distances = await withProvider({ url: server.origin, retryBaseDelay: "10 millis" }, (road) =>
      road.measure(origin, destinations),
    )
    expect(distances.map((d) => d.source)).toEqual(["road", "road"])
    expect(server.requests).toHaveLength(2)
  })

  it("falls back to straight line, with the reason, when the provider hangs past the timeout", async () => {
    const server = await start(() => "hang")
    const started = Date.now()
    const distances = await withProvider(
      { url: server.origin, timeout: "150 millis", retries: 1, retryBaseDelay: "10 millis" },
      (road) => road.measure(origin, destinations),
    )
    const elapsed = Date.now() - started
    expect(distances).toEqual(
      straight.map((km) => ({ km, source: "straight_line_fallback", reason: "timed out after 150ms" })),
    )
    // Two bounded attempts, not an unbounded wait.
    expect(server.requests).toHaveLength(2)
    expect(elapsed).toBeLessThan(2_000)
  })

  it("falls back when the answer is malformed or has the wrong number of distances", async () => {
    const server = await start((_, index) =>
      index === 0 ? { status: 200, json: { distancesKm: [1] } } : { status: 200, json: { rows: [] } },
    )
    const [wrongCount, unreadable] = await withProvider({ url: server.origin }, (road) =>
      Effect.all([road.measure(origin, destinations), road.measure(origin, destinations)]),
    )
    expect(wrongCount.map((d) => d.source)).toEqual(["straight_line_fallback", "straight_line_fallback"])
    expect(wrongCount[0]).toMatchObject({ reason: "answered 1 distances for 2 destinations" })
    expect(unreadable[0]).toMatchObject({ reason: expect.stringMatching(/^unreadable answer/) })
    // A bad answer is not retried.
    expect(server.requests).toHaveLength(2)
  })

  it("opens the circuit after repeated failures and then falls back without calling the provider", async () => {
    const server = await start(() => ({ status: 500 }))
    const results = await withProvider(
      { url: server.origin, retries: 0, failureThreshold: 3, openDuration: "1 minute" },
      (road) => Effect.forEach([1, 2, 3, 4, 5], () => road.measure(origin, destinations)),
    )
    expect(server.requests).toHaveLength(3)
    expect(results.slice(0, 3).map((r) => r[0])).toEqual(
      Array.from({ length: 3 }, () => ({ km: straight[0], source: "straight_line_fallback", reason: "HTTP 500" })),
    )
    for (const later of results.slice(3)) {
      expect(later.map((d) => d.source)).toEqual(["straight_line_fallback", "straight_line_fallback"])
      expect(later[0]).toMatchObject({ reason: expect.stringMatching(/^circuit open \(retry in /) })
      expect(later[0]?.km).toBe(straight[0])
    }
  })

  it("closes the circuit again once the provider recovers after the open time", async () => {
    let healthy = false
    const server = await start(() => (healthy ? { status: 200, json: { distancesKm: [1, 2] } } : { status: 502 }))
    const sources = await withProvider(
      { url: server.origin, retries: 0, failureThreshold: 1, openDuration: "200 millis" },
      (road) =>
        Effect.gen(function* () {
          const first = yield* road.measure(origin, destinations)
          healthy = true
          const whileOpen = yield* road.measure(origin, destinations)
          yield* Effect.sleep("300 millis")
          const afterOpen = yield* road.measure(origin, destinations)
          return [first[0]?.source, whileOpen[0]?.source, afterOpen[0]?.source]
        }),
    )
    expect(sources).toEqual(["straight_line_fallback", "straight_line_fallback", "road"])
    expect(server.requests).toHaveLength(2)
  })

  it("does not call the provider for no destinations", async () => {
    const server = await start()
    expect(await withProvider({ url: server.origin }, (road) => road.measure(origin, []))).toEqual([])
    expect(server.requests).toHaveLength(0)
  })
})
