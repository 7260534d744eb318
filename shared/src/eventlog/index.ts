export * from "./encoding.ts"
export * from "./errors.ts"
export * from "./OrderEventLog.ts"
export type * from "./types.ts"
