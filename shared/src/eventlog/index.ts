export * from "./EventLog.ts"
export * from "./encoding.ts"
export * from "./errors.ts"
export type * from "./types.ts"
