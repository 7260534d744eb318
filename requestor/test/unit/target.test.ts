import { describe, expect, it } from "vitest"
import { parseProcessorTarget } from "../../src/processor/target.ts"

const roundRobin = { "grpc.service_config": '{"loadBalancingConfig":[{"round_robin":{}}]}' }

describe("PROCESSOR_GRPC_URL → channel target", () => {
  it.each(["127.0.0.1:50051", "processor:50051", "https://processor.example:443", "[::1]:50051"])(
    "passes one address (%s) through unchanged, with no load-balancing option",
    (value) => {
      expect(parseProcessorTarget(value)).toEqual({
        target: value,
        addresses: [value.replace(/^https?:\/\//, "")],
        channelOptions: {},
      })
    },
  )

  it("turns several IPv4 addresses into one ipv4: target with round_robin", () => {
    expect(parseProcessorTarget("127.0.0.1:50051,127.0.0.1:50061")).toEqual({
      target: "ipv4:127.0.0.1:50051,127.0.0.1:50061",
      addresses: ["127.0.0.1:50051", "127.0.0.1:50061"],
      channelOptions: roundRobin,
    })
  })

  it("keeps the scheme of a list and handles IPv6 literals", () => {
    expect(parseProcessorTarget("https://10.0.0.1:443,10.0.0.2:443")).toMatchObject({
      target: "https://ipv4:10.0.0.1:443,10.0.0.2:443",
    })
    expect(parseProcessorTarget("[::1]:50051,[fe80::1]:50061")).toMatchObject({
      target: "ipv6:[::1]:50051,[fe80::1]:50061",
      channelOptions: roundRobin,
    })
  })

  it.each([
    ["processor", /host:port/],
    ["127.0.0.1:0", /port 1-65535/],
    ["127.0.0.1:50051,", /comma-separated/],
    ["127.0.0.1:50051, 127.0.0.1:50061", /comma-separated/],
    ["processor-1:50051,processor-2:50051", /IPv4 or all IPv6/],
    ["127.0.0.1:50051,[::1]:50061", /IPv4 or all IPv6/],
  ])("rejects %s", (value, problem) => {
    const parsed = parseProcessorTarget(value)
    expect("problem" in parsed && parsed.problem).toMatch(problem)
  })
})
