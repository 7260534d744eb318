/**
 * Seller view: the live orders the seller was selected for (`GET /api/v1/sellers/:SellerID/orders`),
 * the order as the processor shows it to this seller, submit/update a proposal, lock it while
 * editing (remaining time shown), answer the buyer's follow-ups. Calls go to the processor
 * through `/console/processor`.
 */
import { ApiError, call, describeError, type Json, processorBase } from "../api.ts"
import { card, field, formatTime, h, orderOpener, replace, showFieldErrors, table } from "../dom.ts"
import type { Session } from "../session.ts"

export const sellerView = (root: HTMLElement, session: Session, orderId: string | undefined): (() => void) => {
  const openId = h("input", { name: "order", autocomplete: "off", placeholder: "ORD-001", value: orderId ?? "" })
  const open = orderOpener({ view: "seller", input: openId, headingId: "seller-open", title: "Orders", button: "Open" })
  const list = h("ul", { class: "links", id: "seller-orders" }, h("li", {}, "loading…"))
  call(session, "GET", `${processorBase}/api/v1/sellers/${encodeURIComponent(session.sub)}/orders`).then(
    (answer) =>
      replace(
        list,
        ...(answer.Orders.length === 0 ? [h("li", {}, "none live")] : []),
        ...answer.Orders.map((order: Json) =>
          h(
            "li",
            {},
            h(
              "a",
              { href: `#/seller/${encodeURIComponent(order.OrderReqID)}`, "data-order-id": order.OrderReqID },
              order.OrderReqID,
            ),
            " ",
            h("time", { datetime: order.SelectedAt }, formatTime(order.SelectedAt)),
          ),
        ),
      ),
    (error) => replace(list, h("li", {}, describeError(error))),
  )
  const panel = h("div", { id: "seller-panel" })
  replace(
    root,
    h(
      "div",
      { class: "split" },
      h(
        "div",
        {},
        open,
        h(
          "nav",
          { class: "card", "aria-label": "Orders I was selected for" },
          h("h3", {}, "Selected for (live)"),
          list,
        ),
      ),
      panel,
    ),
  )
  if (orderId === undefined) return () => {}
  return orderPanel(panel, session, orderId)
}

const orderPanel = (root: HTMLElement, session: Session, orderId: string): (() => void) => {
  const base = `${processorBase}/api/v1`
  const message = h("div", { class: "form-errors", role: "alert", id: "seller-errors" })
  const summary = h("div", { id: "seller-order" })
  const mine = h("tbody", { id: "my-proposals" })
  const notes = h("ul", { id: "buyer-notes" })
  const proposalId = h("input", {
    name: "ProposalID",
    autocomplete: "off",
    value: `P-${session.sub}-${orderId}`.slice(0, 128),
  })
  const price = h("input", { name: "Price", inputmode: "decimal" })
  const delivery = h("input", { name: "DeliveryDate", type: "date" })
  const proposalErrors = h("div", { class: "form-errors", role: "alert" })
  const proposalDone = h("p", { class: "done", role: "status" })
  const form = h(
    "form",
    { class: "card", id: "proposal-form", novalidate: true, "aria-labelledby": "proposal-title" },
    h("h3", { id: "proposal-title" }, "Submit or update a proposal"),
    field("Proposal id", proposalId, "body.ProposalDictObj.ProposalID"),
    h(
      "div",
      { class: "row" },
      field("Price", price, "body.ProposalDictObj.Price"),
      field("Delivery date", delivery, "body.ProposalDictObj.DeliveryDate"),
    ),
    proposalErrors,
    proposalDone,
    h("button", { type: "submit", class: "primary" }, "Submit proposal"),
  )
  form.addEventListener("submit", async (event) => {
    event.preventDefault()
    try {
      const body = {
        OrderReqID: orderId,
        Seller: session.sub,
        ProposalDictObj: {
          ProposalID: proposalId.value.trim(),
          Price: price.value.trim(),
          DeliveryDate: delivery.value,
        },
      }
      const answer = await call(session, "POST", `${base}/proposal-submissions`, body)
      showFieldErrors(form, proposalErrors, [])
      replace(
        proposalDone,
        `Proposal ${answer?.ProposalID ?? proposalId.value}: ${answer?.Outcome ?? answer?.Status ?? "accepted"}`,
      )
      refresh()
    } catch (error) {
      showFieldErrors(form, proposalErrors, error instanceof ApiError ? error.details : [], describeError(error))
    }
  })
  const ttl = h("input", { name: "TtlSeconds", type: "number", min: 1, max: 86400, value: 120 })
  const answerTo = h("select", { name: "ProposalID", id: "answer-to" })
  const answerText = h("textarea", { name: "Message", rows: 2 })
  const answerErrors = h("div", { class: "form-errors", role: "alert" })
  const answerDone = h("p", { class: "done", role: "status" })
  const answer = h(
    "form",
    { class: "card", id: "answer-form", "aria-labelledby": "answer-title" },
    h("h3", { id: "answer-title" }, "Follow-ups"),
    notes,
    field("On proposal", answerTo, "body.ProposalID"),
    field("Answer", answerText, "body.Message"),
    answerErrors,
    answerDone,
    h("button", { type: "submit" }, "Send answer"),
  )
  answer.addEventListener("submit", async (event) => {
    event.preventDefault()
    try {
      await call(session, "POST", `${base}/followup`, {
        OrderReqID: orderId,
        ProposalID: answerTo.value,
        Seller: session.sub,
        Message: answerText.value,
      })
      answerText.value = ""
      showFieldErrors(answer, answerErrors, [])
      replace(answerDone, "Sent.")
      refresh()
    } catch (error) {
      showFieldErrors(answer, answerErrors, error instanceof ApiError ? error.details : [], describeError(error))
    }
  })
  const locks = new Map<string, number>()
  const lock = async (id: string, release: boolean) => {
    try {
      const result = release
        ? await call(session, "POST", `${base}/edit-lock/release`, { OrderReqID: orderId, ProposalID: id })
        : await call(session, "POST", `${base}/edit-lock`, {
            OrderReqID: orderId,
            ProposalID: id,
            TtlSeconds: Number(ttl.value),
          })
      if (result?.LockedUntil) locks.set(id, Date.parse(result.LockedUntil))
      else locks.delete(id)
      replace(message)
      refresh()
    } catch (error) {
      replace(message, describeError(error))
    }
  }
  replace(
    root,
    h("h2", {}, "Order ", h("span", { id: "order-id" }, orderId)),
    message,
    summary,
    h(
      "div",
      { class: "grid" },
      form,
      card(
        { id: "mine-title", title: "My proposals", wide: true },
        field("Edit lock length (seconds)", ttl, "body.TtlSeconds"),
        h(
          "div",
          { class: "scroll" },
          table({}, ["Proposal", "Price", "Delivery", "Status", "Version", "Edit lock"], mine),
        ),
      ),
      answer,
    ),
  )
  const remaining = (id: string) => {
    const until = locks.get(id)
    if (until === undefined) return ""
    // The browser's wall clock: a countdown shown to the seller (the console has no Effect runtime).
    const seconds = Math.round((until - Date.now()) / 1000)
    return seconds > 0 ? `locked, ${seconds} s left` : "lock expired"
  }
  let order: Json
  const render = () => {
    if (order === undefined) return
    replace(
      summary,
      h(
        "p",
        {},
        `Status ${order.Status} · buyer ${order.BuyerID} · ${order.Industry} · delivery by ${order.DeliveryDate}`,
      ),
      h("ul", {}, ...(order.Products ?? []).map((p: Json) => h("li", {}, `${p.Quantity} ${p.Unit ?? ""} ${p.Name}`))),
    )
    const own: ReadonlyArray<Json> = (order.Proposals ?? []).filter((p: Json) => p.SellerID === session.sub)
    replace(
      mine,
      ...own.map((p) =>
        h(
          "tr",
          { "data-proposal-id": p.ProposalID },
          h("th", { scope: "row" }, p.ProposalID),
          h("td", { class: "num" }, String(p.Price)),
          h("td", {}, p.DeliveryDate),
          h("td", {}, p.Status),
          h("td", { class: "num" }, String(p.Version)),
          h(
            "td",
            {},
            h("span", { class: "lock", "data-lock": p.ProposalID }, remaining(p.ProposalID)),
            " ",
            h("button", { type: "button", onclick: () => lock(p.ProposalID, false) }, "Lock"),
            " ",
            h("button", { type: "button", onclick: () => lock(p.ProposalID, true) }, "Release"),
          ),
        ),
      ),
    )
    const chosen = answerTo.value
    replace(
      answerTo,
      ...own.map((p) => h("option", { value: p.ProposalID, selected: p.ProposalID === chosen }, p.ProposalID)),
    )
    const ids = new Set(own.map((p) => p.ProposalID))
    replace(
      notes,
      ...(order.Notes ?? [])
        .filter((n: Json) => (n.Audience ?? []).some((id: string) => ids.has(id)))
        .map((n: Json) => h("li", {}, h("time", {}, formatTime(n.At)), ` ${n.Message}`)),
    )
  }
  const refresh = async () => {
    try {
      order = await call(session, "GET", `${base}/orders/${encodeURIComponent(orderId)}`)
      render()
    } catch (error) {
      replace(message, describeError(error))
    }
  }
  void refresh()
  const poll = setInterval(refresh, 3_000)
  const tick = setInterval(() => {
    for (const element of mine.querySelectorAll<HTMLElement>("[data-lock]"))
      element.textContent = remaining(element.dataset.lock ?? "")
  }, 1_000)
  return () => {
    clearInterval(poll)
    clearInterval(tick)
  }
}
