/** Events of an order that left Redis, as the archive holds them (the JSON texts of the event log). */
import { OrderEventRecordJson } from "@dcent/shared/orders/events"
import { Effect, Schema } from "effect"

const decodeRecordJson = Schema.decodeUnknownEffect(OrderEventRecordJson)

/** Archived events as records; a record the archive cannot decode is a defect (it wrote them). */
export const decodeArchivedEvents = (events: ReadonlyArray<string>) =>
  Effect.forEach(events, (json) => decodeRecordJson(json).pipe(Effect.orDie))
