/** Where a buyer watches an order: the SSE path and the public gRPC `WatchOrder` stream (sent back by initiate). */
import type { WatchLinks } from "../orders/views.ts"

export const watchLinks = (orderReqId: string, grpcPort: number): WatchLinks => ({
  Events: `/api/v1/orders/${encodeURIComponent(orderReqId)}/events`,
  Grpc: { Service: "dcent.orders.v1.OrderWatchService", Method: "WatchOrder", Port: grpcPort },
})
