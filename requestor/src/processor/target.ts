/**
 * `PROCESSOR_GRPC_URL` → the channel target and options (pure, unit-tested).
 *
 * - One address (`host:port`, `[v6]:port`, optionally behind `http://` / `https://`): passed to
 *   nice-grpc's `createChannel` as it is (grpc-js resolves a host name with DNS).
 * - Several, comma-separated (`127.0.0.1:50051,127.0.0.1:50061`): one channel over all of them,
 *   grpc-js target `ipv4:127.0.0.1:50051,127.0.0.1:50061` (or `ipv6:[::1]:50051,[::1]:50061`) with
 *   `round_robin` load balancing: streams and calls spread over the processors that are up; when
 *   one dies its streams break and reconnect through the others. grpc-js's address-list resolvers
 *   take IP literals only, so every address of a list must be an IP of one family; for host names
 *   use one DNS name that resolves to every processor (grpc-js then balances over its addresses).
 */
import { isIPv4, isIPv6 } from "node:net"
import type { ChannelOptions } from "nice-grpc"

export interface ProcessorTarget {
  /** What `createChannel` gets. */
  readonly target: string
  /** `host:port` of each processor. */
  readonly addresses: ReadonlyArray<string>
  /** `round_robin` over several addresses; nothing for one. */
  readonly channelOptions: ChannelOptions
}

const hostPort = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/

const roundRobin: ChannelOptions = {
  "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
}

/** The target of `value`, or why it is not one (a message for the configuration error). */
export const parseProcessorTarget = (value: string): ProcessorTarget | { readonly problem: string } => {
  const scheme = /^https?:\/\//.exec(value)?.[0] ?? ""
  const addresses = value.slice(scheme.length).split(",")
  const hosts: Array<string> = []
  for (const address of addresses) {
    const match = hostPort.exec(address)
    if (match === null) {
      return {
        problem:
          addresses.length === 1
            ? "Expected host:port (e.g. 127.0.0.1:50051), optionally with http:// or https://"
            : `Expected comma-separated host:port addresses, got "${address}"`,
      }
    }
    const portNumber = Number(match[2])
    if (portNumber < 1 || portNumber > 65535) return { problem: `Expected a port 1-65535, got ${match[2]}` }
    hosts.push(match[1] as string)
  }
  if (addresses.length === 1) return { target: value, addresses, channelOptions: {} }
  const family = hosts.every(isIPv4)
    ? "ipv4"
    : hosts.every((host) => host.startsWith("[") && isIPv6(host.slice(1, -1)))
      ? "ipv6"
      : undefined
  if (family === undefined) {
    return {
      problem:
        "Several addresses must all be IPv4 or all IPv6 literals (e.g. 127.0.0.1:50051,127.0.0.1:50061); " +
        "for host names use one DNS name that resolves to every processor",
    }
  }
  return { target: `${scheme}${family}:${addresses.join(",")}`, addresses, channelOptions: roundRobin }
}
