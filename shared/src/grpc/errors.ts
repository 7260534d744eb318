import { Schema } from "effect"

/** The gRPC server could not bind its address (port taken, bad host, ...). */
export class GrpcServeError extends Schema.TaggedError<GrpcServeError>()("GrpcServeError", {
  address: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `gRPC server could not listen on ${this.address}: ${this.reason}`
  }
}

/** The generated descriptor set (for server reflection) is missing or unreadable. */
export class DescriptorSetMissing extends Schema.TaggedError<DescriptorSetMissing>()("DescriptorSetMissing", {
  path: Schema.String,
  reason: Schema.String,
}) {
  override get message() {
    return `cannot read the protobuf descriptor set ${this.path} (${this.reason}); run \`npm run generate\``
  }
}
