import { chaosDown, chaosUp, replicatedKafkaUp } from "./infra.ts"

/**
 * The chaos project's own Kafka and Redis (`./infra.ts`: other ports, own run directory), started
 * before its tests and stopped after them, so its restarts never touch the shared stack. The
 * 3-broker Kafka of the `kafka-broker-kill` run starts at the same time (its run finds it ready),
 * unless `CHAOS_TEST_KAFKA3_ROUNDS=0` leaves that run out.
 */
export default async function chaosInfrastructure() {
  await Promise.all([chaosUp(), process.env.CHAOS_TEST_KAFKA3_ROUNDS === "0" ? undefined : replicatedKafkaUp()])
  return async () => {
    if (process.env.CHAOS_KEEP_INFRA !== "1") await chaosDown()
  }
}
