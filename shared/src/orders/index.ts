/** Domain types shared by the requestor and the processor. */
export * from "./domain.ts"
export * from "./events.ts"
export * from "./topicMessage.ts"
