export * from "./OutboxRelay.ts"
