/**
 * Validation of the gRPC requests (pure): each either yields the domain input or an
 * `InvalidRequest` naming every bad field by its proto name (`location.lat`, ...).
 */

import { Priority as ProtoPriority } from "@dcent/shared/generated/dcent/orders/v1/order"
import type {
  FinaliseOrderRequest,
  FollowUpRequest,
  PauseOrderRequest,
  ResumeOrderRequest,
} from "@dcent/shared/generated/dcent/orders/v1/order_non_streaming_service"
import type { OrderStreamRequest } from "@dcent/shared/generated/dcent/orders/v1/order_streaming_service"
import { NotificationType, type Priority, priorityFromProto } from "@dcent/shared/orders/domain"
import { orderLimits } from "@dcent/shared/orders/limits"
import { Result } from "effect"
import { InvalidRequest } from "../orders/errors.ts"
import { idProblem, transactionProblem } from "../orders/ids.ts"
import type { FollowUpContent, MessageType, OrderDetails } from "../orders/model.ts"

type Problem = { readonly path: string; readonly problem: string }

const checkId = (problems: Array<Problem>, path: string, value: string) => {
  const problem = idProblem(value)
  if (problem !== undefined) problems.push({ path, problem })
}

const checkTransaction = (problems: Array<Problem>, value: string) => {
  if (value === "") return
  const problem = transactionProblem(value)
  if (problem !== undefined) problems.push({ path: "transaction_uuid", problem })
}

const finish = <A>(problems: ReadonlyArray<Problem>, value: () => A): Result.Result<A, InvalidRequest> =>
  problems.length > 0 ? Result.fail(new InvalidRequest({ details: problems })) : Result.succeed(value())

const notificationTypes = NotificationType.literals

/** `GChat` / `gchat` → `GChat`; `undefined` when unknown. */
export const canonicalNotificationType = (value: string): NotificationType | undefined =>
  notificationTypes.find((candidate) => candidate.toLowerCase() === value.trim().toLowerCase())

const isoDate = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/

export interface StreamRequest {
  readonly orderReqId: string
  readonly fromSeq: number
}

/** The always-required part of `OrderStreamRequest`. */
export const parseStreamRequest = (request: OrderStreamRequest): Result.Result<StreamRequest, InvalidRequest> => {
  const problems: Array<Problem> = []
  checkId(problems, "order_req_id", request.orderReqId)
  const fromSeq = Number(request.fromSeq)
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) problems.push({ path: "from_seq", problem: "a seq ≥ 0" })
  return finish(problems, () => ({ orderReqId: request.orderReqId, fromSeq }))
}

/** The order details of an `OrderStreamRequest` that opens a new order. */
export const parseOrderDetails = (request: OrderStreamRequest): Result.Result<OrderDetails, InvalidRequest> => {
  const problems: Array<Problem> = []
  checkId(problems, "order_req_id", request.orderReqId)
  if (request.sessionId.trim() === "") problems.push({ path: "session_id", problem: "required (the buyer's session)" })
  if (request.industry.trim() === "") problems.push({ path: "industry", problem: "required" })
  const notificationType = canonicalNotificationType(request.notificationType)
  if (notificationType === undefined) {
    problems.push({
      path: "notification_type",
      problem: `one of ${notificationTypes.join(", ")}${request.notificationType === "" ? " (required)" : `, got ${JSON.stringify(request.notificationType)}`}`,
    })
  }
  const location = request.location
  if (location === undefined) {
    problems.push({ path: "location", problem: "required ({lat, lng} of the delivery point)" })
  } else {
    if (!(Number.isFinite(location.lat) && location.lat >= -90 && location.lat <= 90)) {
      problems.push({ path: "location.lat", problem: "degrees between -90 and 90" })
    }
    if (!(Number.isFinite(location.lng) && location.lng >= -180 && location.lng <= 180)) {
      problems.push({ path: "location.lng", problem: "degrees between -180 and 180" })
    }
  }
  if (request.priority === ProtoPriority.UNRECOGNIZED || request.priority < 0 || request.priority > 3) {
    problems.push({ path: "priority", problem: "PRIORITY_HIGH, PRIORITY_MEDIUM or PRIORITY_LOW" })
  }
  if (
    request.deliveryDate !== "" &&
    !(isoDate.test(request.deliveryDate) && !Number.isNaN(Date.parse(request.deliveryDate)))
  ) {
    problems.push({ path: "delivery_date", problem: "an ISO 8601 date, e.g. 2030-01-31" })
  }
  if (request.products.length > orderLimits.products) {
    problems.push({ path: "products", problem: `at most ${orderLimits.products} products` })
  }
  request.products.forEach((product, index) => {
    if (!Number.isFinite(product.quantity) || product.quantity < 0) {
      problems.push({ path: `products[${index}].quantity`, problem: "a number ≥ 0" })
    }
  })
  const priority: Priority = priorityFromProto(request.priority)
  return finish(problems, () => ({
    orderReqId: request.orderReqId,
    sessionId: request.sessionId.trim(),
    buyerId: request.buyerId,
    notificationType: notificationType!,
    industry: request.industry.trim(),
    location: { lat: location!.lat, lng: location!.lng },
    priority,
    products: request.products.map((product) => ({
      productId: product.productId,
      name: product.name,
      quantity: product.quantity,
      unit: product.unit,
      attributes: { ...product.attributes },
    })),
    deliveryDate: request.deliveryDate,
  }))
}

const messageTypes: ReadonlyArray<MessageType> = ["text", "html", "markdown"]

export interface BuyerFollowUpInput {
  readonly orderReqId: string
  readonly transactionUuid: string
  readonly audience: ReadonlyArray<string>
  readonly content: FollowUpContent
}

export const parseFollowUpRequest = (
  request: FollowUpRequest,
  newId: () => string,
): Result.Result<BuyerFollowUpInput, InvalidRequest> => {
  const problems: Array<Problem> = []
  checkId(problems, "order_req_id", request.orderReqId)
  checkTransaction(problems, request.transactionUuid)
  if (request.audienceProposalIds.length === 0) {
    problems.push({ path: "audience_proposal_ids", problem: "name at least one proposal" })
  }
  if (request.audienceProposalIds.length > orderLimits.audience) {
    problems.push({ path: "audience_proposal_ids", problem: `at most ${orderLimits.audience} proposals` })
  }
  request.audienceProposalIds.forEach((id, index) => {
    checkId(problems, `audience_proposal_ids[${index}]`, id)
  })
  const message = request.message
  const messageType = message?.messageType === "" || message === undefined ? "text" : message.messageType.toLowerCase()
  if (message === undefined || message.text.trim() === "") {
    problems.push({ path: "message.text", problem: "required" })
  } else if (message.text.length > orderLimits.messageText) {
    problems.push({ path: "message.text", problem: `at most ${orderLimits.messageText} characters` })
  }
  const urls = message?.urls ?? []
  if (urls.length > orderLimits.urls)
    problems.push({ path: "message.urls", problem: `at most ${orderLimits.urls} URLs` })
  urls.forEach((url, index) => {
    if (url.length > orderLimits.urlLength) {
      problems.push({ path: `message.urls[${index}]`, problem: `at most ${orderLimits.urlLength} characters` })
    }
  })
  if (!messageTypes.includes(messageType as MessageType)) {
    problems.push({ path: "message.message_type", problem: `one of ${messageTypes.join(", ")}` })
  }
  return finish(problems, () => ({
    orderReqId: request.orderReqId,
    transactionUuid: request.transactionUuid === "" ? newId() : request.transactionUuid,
    audience: request.audienceProposalIds,
    content: { urls: message?.urls ?? [], messageType: messageType as MessageType, text: message?.text ?? "" },
  }))
}

export interface OrderActionInput {
  readonly orderReqId: string
  readonly transactionUuid: string
}

const parseAction = (
  request: { readonly orderReqId: string; readonly transactionUuid: string },
  newId: () => string,
  extra: (problems: Array<Problem>) => void = () => {},
): Result.Result<OrderActionInput, InvalidRequest> => {
  const problems: Array<Problem> = []
  checkId(problems, "order_req_id", request.orderReqId)
  checkTransaction(problems, request.transactionUuid)
  extra(problems)
  return finish(problems, () => ({
    orderReqId: request.orderReqId,
    transactionUuid: request.transactionUuid === "" ? newId() : request.transactionUuid,
  }))
}

export const parseFinaliseRequest = (request: FinaliseOrderRequest, newId: () => string) =>
  Result.map(
    parseAction(request, newId, (problems) => {
      if (request.proposalId !== "") checkId(problems, "proposal_id", request.proposalId)
    }),
    (input) => ({ ...input, proposalId: request.proposalId === "" ? undefined : request.proposalId }),
  )

export const parsePauseRequest = (request: PauseOrderRequest, newId: () => string) =>
  Result.map(
    parseAction(request, newId, (problems) => {
      if (request.reason.length > 1000) problems.push({ path: "reason", problem: "at most 1000 characters" })
    }),
    (input) => ({ ...input, note: request.reason.trim() === "" ? undefined : request.reason.trim() }),
  )

export const parseResumeRequest = (request: ResumeOrderRequest, newId: () => string) => parseAction(request, newId)
