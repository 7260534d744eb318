/**
 * THE single place where the services get their `Broker`: the adapter picked from `BROKER_URL`
 * by `shared/src/broker/layer.ts`, made tolerant of a broker that is down at start-up.
 *
 * The adapter's layer fails when the broker does not answer. Here that first failure does not
 * stop the service: it logs, starts anyway, and keeps connecting in the background (capped
 * exponential backoff). Until connected, every operation fails with `BrokerUnavailable` carrying
 * the last connection problem, so `/readyz` reports the broker as failing and `TopicsBootstrap`
 * keeps retrying. Anything else (an invalid `BROKER_URL`, a refused configuration) still stops
 * start-up.
 */
import { type Config, Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import { Broker, type BrokerShape } from "../broker/Broker.ts"
import { brokerUrlConfig } from "../broker/config.ts"
import { BrokerError, BrokerUnavailable } from "../broker/errors.ts"
import { layerFromConfig } from "../broker/layer.ts"
import { tracedBrokerLayer } from "../telemetry/messaging.ts"

type AdapterError = BrokerUnavailable | BrokerError | Config.ConfigError

/** 1 s, 2 s, 4 s, ... capped at 10 s between connection attempts, forever. */
const reconnectSchedule = Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("10 seconds")])

const isUnavailable = (error: AdapterError): error is BrokerUnavailable => error._tag === "BrokerUnavailable"

export const tolerantBroker = (adapter: Layer.Layer<Broker, AdapterError>): Layer.Layer<Broker, AdapterError> =>
  Layer.effect(
    Broker,
    Effect.gen(function* () {
      const { kind, url } = yield* brokerUrlConfig
      const outer = yield* Effect.scope
      let current: BrokerShape | undefined
      let lastProblem = "not connected yet"

      /** One attempt in its own scope, closed again if the attempt fails. */
      const connect = Effect.gen(function* () {
        const scope = yield* Scope.fork(outer, "sequential")
        return yield* Layer.buildWithScope(adapter, scope).pipe(
          Effect.map((context) => Context.get(context, Broker)),
          Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))),
        )
      })

      const first = yield* Effect.result(connect)
      if (first._tag === "Success") {
        current = first.success
      } else if (isUnavailable(first.failure)) {
        lastProblem = first.failure.reason
        yield* Effect.logWarning("broker unreachable; starting anyway, connecting in the background").pipe(
          Effect.annotateLogs({ broker: url, error: first.failure.reason }),
        )
        yield* connect.pipe(
          Effect.tapError((error) =>
            Effect.sync(() => {
              lastProblem = isUnavailable(error) ? error.reason : error.message
            }).pipe(
              Effect.andThen(
                Effect.logDebug("broker still unreachable").pipe(
                  Effect.annotateLogs({ broker: url, error: lastProblem }),
                ),
              ),
            ),
          ),
          Effect.retry({ schedule: reconnectSchedule, while: isUnavailable }),
          Effect.tap((broker) =>
            Effect.sync(() => {
              current = broker
            }).pipe(Effect.andThen(Effect.logInfo("broker connected").pipe(Effect.annotateLogs({ broker: url })))),
          ),
          Effect.tapError((error) =>
            Effect.logError("broker connection abandoned").pipe(
              Effect.annotateLogs({ broker: url, error: error.message }),
            ),
          ),
          Effect.forkIn(outer),
        )
      } else {
        return yield* Effect.fail(first.failure)
      }

      const unavailable = Effect.suspend(() => Effect.fail(new BrokerUnavailable({ url, reason: lastProblem })))
      const via = <A, E, R>(f: (broker: BrokerShape) => Effect.Effect<A, E, R>) =>
        Effect.suspend(
          (): Effect.Effect<A, E | BrokerUnavailable, R> => (current === undefined ? unavailable : f(current)),
        )

      return Broker.of({
        kind,
        publish: (subject, payload, options) => via((broker) => broker.publish(subject, payload, options)),
        subscribe: (options) => via((broker) => broker.subscribe(options)),
        ensureTopics: (topics) => via((broker) => broker.ensureTopics(topics)),
        healthCheck: via((broker) => broker.healthCheck),
        readKey: (topics, key, options) =>
          via((broker) =>
            broker.readKey === undefined
              ? Effect.fail(
                  new BrokerError({ operation: "readKey", reason: `the ${kind} broker cannot read back by key` }),
                )
              : broker.readKey(topics, key, options),
          ),
      })
    }),
  )

/** Traced: producer and consumer spans, trace context in the message headers. */
export const BrokerLive: Layer.Layer<Broker, AdapterError> = tracedBrokerLayer(tolerantBroker(layerFromConfig()))
