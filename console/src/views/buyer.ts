/**
 * Buyer view: initiate an order (field-level errors from the API's error details), then watch
 * it: selected sellers with distances, proposals arriving live (SSE, resumed with Last-Event-ID),
 * price/delivery comparison, follow-ups, pause/resume, finalise with a winner, every event's seq.
 */
import { ApiError, call, describeError, type Json } from "../api.ts"
import { card, field, formatTime, h, orderOpener, replace, showFieldErrors, table } from "../dom.ts"
import type { Session } from "../session.ts"
import { type OrderStream, type StreamState, watchOrderEvents } from "../sse.ts"

const stateText: Record<StreamState, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  ended: "ended (order finalised)",
  refused: "refused",
}

// Browser wall time (no Effect runtime in the console): a readable default the buyer may edit.
const newOrderId = () => `ORD-${Date.now().toString(36).toUpperCase()}`

/** `40 Steel sheet` → `{Name, Quantity: 40}`; anything else is sent as a plain product name. */
const parseProducts = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => {
      const match = /^(\d+(?:\.\d+)?)\s*[x×]?\s+(.+)$/u.exec(line)
      return match === null ? line : { Name: match[2], Quantity: Number(match[1]) }
    })

export const buyerView = (root: HTMLElement, session: Session, orderId: string | undefined): (() => void) => {
  if (orderId !== undefined) return orderPanel(root, session, orderId)
  const input = (attrs: Record<string, string>) => h("input", { autocomplete: "off", ...attrs })
  const orderReqId = input({ name: "OrderReqID", value: newOrderId(), required: "" })
  const buyerId = input({ name: "BuyerID", value: session.sub })
  const industry = input({ name: "Industry", value: "Industrial Supplies" })
  const lat = input({ name: "Lat", inputmode: "decimal", value: "12.9716" })
  const lng = input({ name: "Lng", inputmode: "decimal", value: "77.5946" })
  const products = h("textarea", { name: "Products", rows: 3 }, "40 Stainless steel sheet 304, 2 mm\n2000 M8 hex bolt")
  // Two weeks from the browser's today: only the form's default.
  const delivery = input({
    name: "DeliveryDate",
    type: "date",
    value: new Date(Date.now() + 14 * 86_400_000).toISOString().slice(0, 10),
  })
  const priority = h(
    "select",
    { name: "Priority" },
    ...["HIGH", "MEDIUM", "LOW"].map((p) => h("option", { value: p, selected: p === "MEDIUM" }, p)),
  )
  const notification = h(
    "select",
    { name: "NotificationType" },
    ...["GChat", "Email", "SMS"].map((n) => h("option", { value: n }, n)),
  )
  const summary = h("div", { class: "form-errors", role: "alert", id: "initiate-errors" })
  const form = h(
    "form",
    { class: "card", id: "initiate-form", novalidate: true, "aria-labelledby": "initiate-title" },
    h("h2", { id: "initiate-title" }, "New order request"),
    field("Order id", orderReqId, "body.OrderReqID"),
    field("Buyer id", buyerId, "body.BuyerID"),
    field("Industry", industry, "body.Industry"),
    h(
      "fieldset",
      { class: "row" },
      h("legend", {}, "Delivery location"),
      field("Latitude", lat, "body.Location.Lat"),
      field("Longitude", lng, "body.Location.Lng"),
    ),
    field("Products", products, "body.Products", 'One per line: quantity, then name ("40 Steel sheet").'),
    h(
      "div",
      { class: "row" },
      field("Delivery date", delivery, "body.DeliveryDate"),
      field("Priority", priority, "body.Priority"),
      field("Notify by", notification, "body.NotificationType"),
    ),
    summary,
    h("button", { type: "submit", class: "primary" }, "Initiate order"),
  )
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    const id = orderReqId.value.trim()
    const body = {
      OrderReqID: id,
      SessionID: `console-${session.sub}`,
      BuyerID: buyerId.value.trim() === "" ? undefined : buyerId.value.trim(),
      Industry: industry.value.trim(),
      Location: { Lat: lat.value.trim(), Lng: lng.value.trim() },
      Products: parseProducts(products.value),
      DeliveryDate: delivery.value,
      Priority: priority.value,
      NotificationType: notification.value,
    }
    try {
      await call(session, "POST", "/api/v1/initiate", body)
      location.hash = `#/buyer/${encodeURIComponent(id)}`
    } catch (error) {
      showFieldErrors(form, summary, error instanceof ApiError ? error.details : [], describeError(error))
    }
  })
  const openId = input({ name: "open", placeholder: "ORD-001" })
  const open = orderOpener({
    view: "buyer",
    input: openId,
    headingId: "open-title",
    title: "Open an order",
    button: "Open",
  })
  replace(root, h("div", { class: "grid" }, form, open))
  return () => {}
}

const money = (value: unknown, currency?: string) =>
  typeof value === "number"
    ? `${value.toLocaleString(undefined, { maximumFractionDigits: 2 })}${currency === undefined ? "" : ` ${currency}`}`
    : "–"

const orderPanel = (root: HTMLElement, session: Session, orderId: string): (() => void) => {
  const state = h(
    "p",
    { id: "stream-state", role: "status", class: "state", "data-state": "connecting" },
    stateText.connecting,
  )
  const status = h("p", { id: "order-status" })
  const message = h("div", { class: "form-errors", role: "alert", id: "order-errors" })
  const sellers = h("ol", { id: "sellers", class: "sellers" })
  const proposals = h("tbody", { id: "proposals" })
  const timeline = h("ol", {
    id: "timeline",
    class: "timeline",
    "aria-live": "off",
    "aria-labelledby": "timeline-title",
    tabindex: 0,
    "data-duplicates": "0",
  })
  const followText = h("textarea", { name: "Message", rows: 2 })
  const followErrors = h("div", { class: "form-errors", role: "alert" })
  const followForm = h(
    "form",
    { class: "inline", id: "followup-form" },
    field("Follow-up to the checked proposals", followText, "body.Message"),
    followErrors,
    h("button", { type: "submit" }, "Send follow-up"),
  )
  const winner = h("select", { name: "ProposalID", id: "winner" }, h("option", { value: "" }, "no winner"))
  const pauseReason = h("input", { name: "Reason", placeholder: "optional" })
  const actions = h(
    "div",
    { class: "actions" },
    h(
      "div",
      { class: "inline" },
      field("Pause reason", pauseReason, "body.Reason"),
      h(
        "button",
        {
          type: "button",
          id: "pause",
          onclick: () => act("pause", pauseReason.value.trim() === "" ? null : { Reason: pauseReason.value.trim() }),
        },
        "Pause",
      ),
    ),
    h("button", { type: "button", id: "resume", onclick: () => act("resume", null) }, "Resume"),
    h(
      "div",
      { class: "inline" },
      field("Winner", winner),
      h(
        "button",
        {
          type: "button",
          class: "primary",
          id: "finalise",
          onclick: () => act("finalize", winner.value === "" ? null : { ProposalID: winner.value }),
        },
        "Finalise",
      ),
    ),
  )
  const act = async (action: "pause" | "resume" | "finalize", body: unknown) => {
    try {
      await call(session, "PUT", `/api/v1/${action}/${encodeURIComponent(orderId)}`, body)
      replace(message)
      refresh()
    } catch (error) {
      replace(message, describeError(error))
    }
  }
  followForm.addEventListener("submit", async (event) => {
    event.preventDefault()
    const audience = [...proposals.querySelectorAll<HTMLInputElement>("input[type=checkbox]:checked")].map(
      (box) => box.value,
    )
    try {
      await call(session, "POST", "/api/v1/followup", {
        OrderReqID: orderId,
        Audience: audience,
        Message: followText.value,
      })
      followText.value = ""
      showFieldErrors(followForm, followErrors, [])
    } catch (error) {
      showFieldErrors(followForm, followErrors, error instanceof ApiError ? error.details : [], describeError(error))
    }
  })

  replace(
    root,
    h("h2", {}, "Order ", h("span", { id: "order-id" }, orderId)),
    state,
    status,
    message,
    h(
      "div",
      { class: "grid" },
      card({ id: "sellers-title", title: "Selected sellers" }, sellers),
      card(
        { id: "proposals-title", title: "Proposals", wide: true },
        h(
          "div",
          { class: "scroll" },
          table(
            { id: "proposal-table" },
            ["Ask", "Proposal", "Seller", "Price", "Delivery", "Status", "Version"],
            proposals,
          ),
        ),
        followForm,
      ),
      card({ id: "actions-title", title: "Order actions" }, actions),
      card({ id: "timeline-title", title: "Timeline", wide: true }, timeline),
    ),
  )

  let pending: ReturnType<typeof setTimeout> | undefined
  const refresh = () => {
    clearTimeout(pending)
    pending = setTimeout(async () => {
      try {
        render(await call(session, "GET", `/api/v1/orders/${encodeURIComponent(orderId)}`))
      } catch (error) {
        replace(message, describeError(error))
      }
    }, 50)
  }
  const render = (order: Json) => {
    replace(
      status,
      `Status ${order.Status} · buyer ${order.BuyerID} · ${order.Industry} · delivery by ${order.DeliveryDate}`,
      order.ExpiresAt ? ` · expires ${formatTime(order.ExpiresAt)}` : "",
    )
    replace(
      sellers,
      ...(order.SelectedSellers ?? []).map((seller: Json) =>
        h(
          "li",
          { "data-seller-id": seller.SellerID },
          h("strong", {}, seller.SellerID),
          seller.Name ? ` ${seller.Name}` : "",
          typeof seller.DistanceKm === "number" ? ` · ${seller.DistanceKm.toFixed(1)} km` : "",
        ),
      ),
    )
    const list: ReadonlyArray<Json> = order.Proposals ?? []
    const prices = list.map((p) => p.Price).filter((p) => typeof p === "number")
    const dates = list
      .map((p) => p.DeliveryDate)
      .filter((d) => typeof d === "string")
      .sort()
    const checked = new Set([...proposals.querySelectorAll<HTMLInputElement>("input:checked")].map((box) => box.value))
    replace(
      proposals,
      ...list.map((p) =>
        h(
          "tr",
          { "data-proposal-id": p.ProposalID },
          h(
            "td",
            {},
            h("input", {
              type: "checkbox",
              value: p.ProposalID,
              checked: checked.has(p.ProposalID),
              "aria-label": `Follow up on ${p.ProposalID}`,
            }),
          ),
          h("th", { scope: "row" }, p.ProposalID),
          h("td", {}, p.SellerID ?? ""),
          h(
            "td",
            { class: "num" },
            money(p.Price, p.Currency),
            p.Price === Math.min(...prices) ? h("span", { class: "badge" }, "lowest") : null,
          ),
          h(
            "td",
            {},
            p.DeliveryDate ?? "",
            p.DeliveryDate === dates[0] ? h("span", { class: "badge" }, "earliest") : null,
          ),
          h("td", {}, p.Status ?? ""),
          h("td", { class: "num" }, p.Version ?? ""),
        ),
      ),
    )
    const chosen = winner.value
    replace(
      winner,
      h("option", { value: "" }, "no winner"),
      ...list.map((p) =>
        h(
          "option",
          { value: p.ProposalID, selected: p.ProposalID === chosen },
          `${p.ProposalID} (${p.SellerID ?? "?"}, ${money(p.Price, p.Currency)})`,
        ),
      ),
    )
  }

  let stream: OrderStream | undefined
  stream = watchOrderEvents(session, orderId, {
    onState: (next, detail) => {
      state.dataset.state = next
      replace(state, `Stream: ${stateText[next]}${detail === undefined ? "" : ` (${detail})`}`)
    },
    onEvent: (event) => {
      timeline.append(
        h(
          "li",
          { "data-seq": event.Seq, "data-status": event.Status },
          h("span", { class: "seq" }, `#${event.Seq}`),
          ` ${event.Status}`,
          event.ProposalID ? ` · ${event.ProposalID}` : "",
          event.Message ? ` · ${event.Message}` : "",
          h("time", { datetime: event.OccurredAt ?? "" }, ` ${formatTime(event.OccurredAt)}`),
        ),
      )
      timeline.dataset.duplicates = String(stream?.duplicates() ?? 0)
      refresh()
    },
  })
  refresh()
  return () => {
    clearTimeout(pending)
    stream?.close()
  }
}
