/** A tiny DOM builder: `h("button", {type: "submit", onclick}, "Send")`. */
type Attrs = Record<string, string | number | boolean | EventListener | undefined>
export type Child = Node | string | number | false | null | undefined | ReadonlyArray<Child>

export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: ReadonlyArray<Child>
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value)
    else element.setAttribute(name, value === true ? "" : String(value))
  }
  append(element, children)
  return element
}

export const append = (parent: Node, children: ReadonlyArray<Child>) => {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue
    if (Array.isArray(child)) append(parent, child)
    else parent.appendChild(typeof child === "object" ? (child as Node) : document.createTextNode(String(child)))
  }
}

export const replace = (parent: Element, ...children: ReadonlyArray<Child>) => {
  parent.replaceChildren()
  append(parent, children)
}

let ids = 0
/** A labelled form field; `path` is the API's error-detail path (`body.Location.Lat`). */
export const field = (
  label: string,
  input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  path?: string,
  hint?: string,
) => {
  const id = input.id || `f${++ids}`
  input.id = id
  const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert" })
  input.setAttribute("aria-describedby", `${id}-error${hint === undefined ? "" : ` ${id}-hint`}`)
  if (path !== undefined) input.dataset.path = path
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    hint === undefined ? null : h("p", { class: "hint", id: `${id}-hint` }, hint),
    error,
  )
}

/** Puts each error detail next to the field whose `data-path` is (a prefix of) its path; the rest in `summary`. */
export const showFieldErrors = (
  form: HTMLElement,
  summary: HTMLElement,
  details: ReadonlyArray<{ readonly path: string; readonly problem: string }>,
  message?: string,
) => {
  for (const element of form.querySelectorAll<HTMLElement>("[data-path]")) {
    element.removeAttribute("aria-invalid")
    const error = form.querySelector(`#${element.id}-error`)
    if (error !== null) error.textContent = ""
  }
  const unplaced: Array<string> = []
  for (const detail of details) {
    const target = [...form.querySelectorAll<HTMLElement>("[data-path]")]
      .filter((element) => detail.path === element.dataset.path || detail.path.startsWith(`${element.dataset.path}.`))
      .sort((a, b) => (b.dataset.path?.length ?? 0) - (a.dataset.path?.length ?? 0))[0]
    const error = target === undefined ? null : form.querySelector(`#${target.id}-error`)
    if (target === undefined || error === null) {
      unplaced.push(`${detail.path}: ${detail.problem}`)
      continue
    }
    target.setAttribute("aria-invalid", "true")
    error.textContent = error.textContent === "" ? detail.problem : `${error.textContent}; ${detail.problem}`
  }
  replace(
    summary,
    message === undefined ? null : h("p", {}, message),
    unplaced.length === 0 ? null : h("ul", {}, ...unplaced.map((line) => h("li", {}, line))),
  )
  const first = form.querySelector<HTMLElement>("[aria-invalid=true]")
  first?.focus()
}

export const formatTime = (iso: string | undefined) => {
  if (iso === undefined || iso === "") return ""
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString([], { hour12: false })
}

/** A card section labelled by its own heading (`aria-labelledby`), as every card of the console is. */
export const card = (
  heading: { readonly id: string; readonly title: Child; readonly level?: "h2" | "h3"; readonly wide?: boolean },
  ...children: ReadonlyArray<Child>
) =>
  h(
    "section",
    { class: heading.wide === true ? "card wide" : "card", "aria-labelledby": heading.id },
    h(heading.level ?? "h3", { id: heading.id }, heading.title),
    ...children,
  )

/** A table with a header row of `columns` (each a `th scope=col`) above `rows`. */
export const table = (attrs: Attrs, columns: ReadonlyArray<string>, ...rows: ReadonlyArray<Child>) =>
  h("table", attrs, h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))), ...rows)

/** The form each view starts with: an order id that opens `#/<view>/<id>`. */
export const orderOpener = (options: {
  readonly view: string
  readonly input: HTMLInputElement
  readonly headingId: string
  readonly title: string
  readonly button: string
}) => {
  const form = h(
    "form",
    { class: "card inline", "aria-labelledby": options.headingId },
    h("h2", { id: options.headingId }, options.title),
    field("Order id", options.input),
    h("button", { type: "submit" }, options.button),
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const orderId = options.input.value.trim()
    if (orderId !== "") location.hash = `#/${options.view}/${encodeURIComponent(orderId)}`
  })
  return form
}
