/**
 * Calls to the requestor (same origin) and, through its proxy `/console/processor`, to the
 * processor. Every call carries the session's token: the services authorize it like any client's.
 */
import type { Session } from "./session.ts"

export interface ErrorDetail {
  readonly path: string
  readonly problem: string
}

/** A refused call: the common error body `{error: {code, message, details}}`. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: ReadonlyArray<ErrorDetail>
  constructor(status: number, code: string, message: string, details: ReadonlyArray<ErrorDetail>) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

export const processorBase = "/console/processor"

export const authHeaders = (session: Session | undefined): Record<string, string> =>
  session?.token === undefined ? {} : { authorization: `Bearer ${session.token}` }

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field by the views
export type Json = any

export const call = async (
  session: Session | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<Json> => {
  const response = await fetch(path, {
    method,
    headers: {
      ...authHeaders(session),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await response.text()
  let json: Json
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = text
  }
  if (!response.ok) {
    const error = json?.error
    throw new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? (typeof json === "string" && json !== "" ? json : response.statusText),
      Array.isArray(error?.details) ? error.details : [],
    )
  }
  return json
}

export const describeError = (error: unknown): string =>
  error instanceof ApiError
    ? `${error.status} ${error.code}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error)
