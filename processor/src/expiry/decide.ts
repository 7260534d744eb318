/**
 * Order expiry, decided (pure): a SUBMITTED order whose `expiresAt` has passed is paused with
 * reason `expired`; a stale timer (the order was resumed with a later expiry) re-schedules the
 * current one. The timer that triggers it is `./Timers.ts`.
 */
import { Builder, type DecideOn, paused, unchanged } from "../orders/decision.ts"
import { TimerMember } from "../orders/model.ts"

export const expire: DecideOn<"Expire"> = (state, _command, context) => {
  if (state.status !== "SUBMITTED" || state.expiresAt === undefined) return unchanged({ outcome: "not_submitted" })
  const dueAt = Date.parse(state.expiresAt)
  const builder = new Builder(context, state.lastSeq)
  if (dueAt > context.now.getTime()) {
    // A stale timer (the order was resumed with a later expiry): keep the current one scheduled.
    builder.set.push({ member: TimerMember.expiry(state.details.orderReqId), dueAt })
    return builder.done(undefined, { outcome: "not_due" })
  }
  const { seq } = paused(builder, state, "expired")
  const at = context.now.toISOString()
  const { expiresAt: _expiresAt, pausedNote: _note, ...rest } = state
  return builder.done({ ...rest, status: "PAUSED", pausedReason: "expired", updatedAt: at }, { outcome: "paused", seq })
}
