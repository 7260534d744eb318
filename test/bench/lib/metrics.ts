/**
 * A service's own `/metrics`, read for context (stream counts, stream disconnects): best effort,
 * since metric names belong to the services and may change — figures never depend on them.
 */

/** The sum of every sample of `name` whose labels contain all of `labels` (`undefined` when absent). */
export const metricSum = (text: string, name: string, labels: Readonly<Record<string, string>> = {}) => {
  let sum: number | undefined
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`))) continue
    const value = Number(line.slice(line.lastIndexOf(" ") + 1))
    if (Number.isFinite(value)) sum = (sum ?? 0) + value
  }
  return sum
}

/** `GET <baseUrl>/metrics` as text, `""` when it cannot be read. */
export const scrape = async (baseUrl: string): Promise<string> => {
  try {
    const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
    return response.ok ? await response.text() : ""
  } catch {
    return ""
  }
}

/** Stream figures of a requestor: open streams by kind and disconnects by kind and reason. */
export const streamMetrics = async (requestorUrl: string) => {
  const text = await scrape(requestorUrl)
  const kinds = ["requestor_order_stream", "watch_order", "sse"]
  return {
    open: Object.fromEntries(
      kinds.map((stream) => [stream, metricSum(text, "dcent_streams_open", { stream }) ?? null]),
    ),
    disconnects: Object.fromEntries(
      kinds.map((stream) => [stream, metricSum(text, "dcent_stream_disconnects_total", { stream }) ?? null]),
    ),
  }
}
