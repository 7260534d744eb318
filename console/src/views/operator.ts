/**
 * Operator view: one order's story side by side — the processor's event log, the requestor's
 * buyer-facing log (the SSE stream from seq 1) and the messages on the eight topics keyed by
 * the order — with trace ids linking to Jaeger (`make observe`), and the services' queue depth,
 * semaphore use and stream counts from their `/metrics`.
 */
import { call, describeError, type Json, processorBase } from "../api.ts"
import { card, formatTime, h, orderOpener, replace, table } from "../dom.ts"
import type { Session } from "../session.ts"
import { type OrderStream, watchOrderEvents } from "../sse.ts"

const jaeger = "http://127.0.0.1:16686/trace/"
const traceIdOf = (traceparent: string | undefined) => traceparent?.split("-")[1]
const traceLink = (traceId: string | undefined) =>
  traceId === undefined || traceId === ""
    ? null
    : h("a", { href: `${jaeger}${traceId}`, target: "_blank", rel: "noopener" }, `trace ${traceId.slice(0, 8)}…`)

const shownMetrics = [
  "dcent_queue_depth",
  "dcent_semaphore_permits_in_use",
  "dcent_semaphore_permits",
  "dcent_semaphore_waiters",
  "dcent_streams_open",
  "dcent_admission_in_flight",
]

/** `name{labels} value` lines of the shown metrics, as table rows. */
const metricRows = (text: string) =>
  text.split("\n").flatMap((line) => {
    const match = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)$/u.exec(line)
    if (match === null || !shownMetrics.includes(match[1] ?? "")) return []
    const labels = (match[2] ?? "")
      .replace(/^\{|\}$/gu, "")
      .replaceAll('"', "")
      .replace(/(^|,)service=[^,]*/u, "")
    return [
      h(
        "tr",
        {},
        h("td", {}, match[1]?.replace(/^dcent_/u, "")),
        h("td", {}, labels.replace(/^,/u, "")),
        h("td", { class: "num" }, match[3]),
      ),
    ]
  })

export const operatorView = (root: HTMLElement, session: Session, orderId: string | undefined): (() => void) => {
  const openId = h("input", { name: "order", autocomplete: "off", placeholder: "ORD-001", value: orderId ?? "" })
  const open = orderOpener({
    view: "operator",
    input: openId,
    headingId: "op-open",
    title: "Follow an order",
    button: "Show",
  })
  const metrics = h("div", { id: "metrics", class: "metrics" })
  const story = h("div", { id: "story" })
  replace(root, open, story, card({ id: "metrics-title", title: "Services", level: "h2" }, metrics))
  const loadMetrics = async () => {
    const sections = await Promise.all(
      [
        ["Requestor", "/metrics"],
        ["Processor", `${processorBase}/metrics`],
      ].map(async ([name, path]) => {
        try {
          const response = await fetch(path as string)
          const rows = metricRows(await response.text())
          return h(
            "div",
            {},
            h("h3", {}, name),
            rows.length === 0
              ? h("p", {}, "(none reported)")
              : table({ class: "metric-table" }, ["metric", "labels", "value"], h("tbody", {}, ...rows)),
          )
        } catch (error) {
          return h("div", {}, h("h3", {}, name), h("p", {}, describeError(error)))
        }
      }),
    )
    replace(metrics, ...sections)
  }
  void loadMetrics()
  const metricsTimer = setInterval(loadMetrics, 5_000)
  if (orderId === undefined) return () => clearInterval(metricsTimer)

  const processorLog = h("ol", { id: "processor-log", class: "log", tabindex: 0, "aria-labelledby": "pl" })
  const buyerLog = h("ol", { id: "buyer-log", class: "log", tabindex: 0, "aria-labelledby": "bl" })
  const messages = h("ol", { id: "topic-messages", class: "log", tabindex: 0, "aria-labelledby": "tm" })
  const note = h("p", { role: "status", id: "story-status" })
  const refresh = h("button", { type: "button", onclick: () => load() }, "Refresh")
  replace(
    story,
    h("h2", {}, "Order ", h("span", { id: "order-id" }, orderId), " ", refresh),
    note,
    h(
      "div",
      { class: "columns" },
      card({ id: "pl", title: "Processor event log" }, processorLog),
      card({ id: "bl", title: "Requestor buyer-facing log" }, buyerLog),
      card({ id: "tm", title: "Topic messages (key = order)" }, messages),
    ),
  )
  const load = async () => {
    replace(note, "loading…")
    const problems: Array<string> = []
    const [events, topics] = await Promise.all([
      call(session, "GET", `${processorBase}/api/v1/orders/${encodeURIComponent(orderId)}/events`).catch((error) => {
        problems.push(`processor log: ${describeError(error)}`)
        return undefined
      }),
      call(session, "GET", `/api/v1/orders/${encodeURIComponent(orderId)}/messages`).catch((error) => {
        problems.push(`topics: ${describeError(error)}`)
        return undefined
      }),
    ])
    if (events !== undefined)
      replace(
        processorLog,
        ...(events.Events ?? []).map((e: Json) =>
          h(
            "li",
            { "data-seq": e.Seq },
            h("span", { class: "seq" }, `#${e.Seq}`),
            ` ${e.Status}`,
            e.ProposalID ? ` · ${e.ProposalID}` : "",
            ` `,
            h("time", {}, formatTime(e.OccurredAt)),
            " ",
            traceLink(e.TraceID),
          ),
        ),
      )
    if (topics !== undefined)
      replace(
        messages,
        ...[...(topics.Messages ?? [])]
          .sort((a: Json, b: Json) => String(a.Timestamp).localeCompare(String(b.Timestamp)))
          .map((m: Json) =>
            h(
              "li",
              { "data-topic": m.Topic },
              h("strong", {}, m.Topic),
              ` ${m.Payload?.Key ?? m.Headers?.["event-type"] ?? ""}`,
              typeof m.Payload?.Seq === "number" ? ` · seq ${m.Payload.Seq}` : "",
              ` · ${m.Partition}:${m.Offset} `,
              h("time", {}, formatTime(m.Timestamp)),
              " ",
              traceLink(traceIdOf(m.Headers?.traceparent)),
            ),
          ),
      )
    // The browser's wall clock: when the operator's view was loaded.
    replace(note, problems.length === 0 ? `loaded ${formatTime(new Date().toISOString())}` : problems.join(" · "))
  }
  void load()
  const stream: OrderStream = watchOrderEvents(session, orderId, {
    onState: () => {},
    onEvent: (e) =>
      buyerLog.append(
        h(
          "li",
          { "data-seq": e.Seq },
          h("span", { class: "seq" }, `#${e.Seq}`),
          ` ${e.Status}`,
          e.ProposalID ? ` · ${e.ProposalID}` : "",
          " ",
          h("time", {}, formatTime(e.OccurredAt)),
        ),
      ),
  })
  return () => {
    clearInterval(metricsTimer)
    stream.close()
  }
}
