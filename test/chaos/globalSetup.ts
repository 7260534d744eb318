import { chaosDown, chaosUp } from "./infra.ts"

/**
 * The chaos project's own Kafka and Redis (`./infra.ts`: other ports, own run directory), started
 * before its tests and stopped after them, so its restarts never touch the shared stack.
 */
export default async function chaosInfrastructure() {
  await chaosUp()
  return async () => {
    if (process.env.CHAOS_KEEP_INFRA !== "1") await chaosDown()
  }
}
