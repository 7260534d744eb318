/** The console's shell: sign-in, navigation by role, hash routes `#/buyer[/ORDER]`, `#/seller[/ORDER]`, `#/operator[/ORDER]`. */
import "./style.css"
import { card, h, replace } from "./dom.ts"
import { claimsOf, demoPrincipals, loadSession, type Session, saveSession } from "./session.ts"
import { buyerView } from "./views/buyer.ts"
import { operatorView } from "./views/operator.ts"
import { sellerView } from "./views/seller.ts"

const main = document.getElementById("main") as HTMLElement
const nav = document.getElementById("nav") as HTMLElement
const who = document.getElementById("who") as HTMLElement

const views = { buyer: buyerView, seller: sellerView, operator: operatorView } as const
type ViewName = keyof typeof views

let cleanup: () => void = () => {}

const signIn = () => {
  const token = h("textarea", { id: "token", name: "token", rows: 3, autocomplete: "off", spellcheck: "false" })
  const error = h("p", { class: "field-error", id: "token-error", role: "alert" })
  token.setAttribute("aria-describedby", "token-error token-hint")
  const form = h(
    "form",
    { class: "card", id: "signin-form", "aria-labelledby": "signin-title" },
    h("h2", { id: "signin-title" }, "Sign in with a token"),
    h("label", { for: "token" }, "Bearer token (JWT)"),
    token,
    h(
      "p",
      { class: "hint", id: "token-hint" },
      "Locally: make -s token ROLE=buyer SUB=BUYER-001 (with the services' AUTH_JWT_SECRET).",
    ),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const value = token.value.trim()
    const claims = claimsOf(value)
    if (claims === undefined) {
      error.textContent = "Not a JWT with a sub claim"
      token.setAttribute("aria-invalid", "true")
      token.focus()
      return
    }
    start({ token: value, ...claims })
  })
  const pickError = h("p", { class: "field-error", role: "alert" })
  /** A token from `POST /console/demo-token` when the requestor offers them (404: AUTH_MODE=disabled, no token needed). */
  const pick = async (principal: Session) => {
    try {
      const response = await fetch("/console/demo-token", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sub: principal.sub }),
      })
      if (response.status === 404) return start(principal)
      const answer = await response.json()
      if (!response.ok) throw new Error(answer?.error?.message ?? `${response.status}`)
      start({ token: answer.token, sub: answer.sub, roles: answer.roles })
    } catch (error) {
      pickError.textContent = error instanceof Error ? error.message : String(error)
    }
  }
  const picker = card(
    { id: "local-title", title: "Local profile", level: "h2" },
    h(
      "p",
      { id: "local-hint" },
      "Act as a demo principal: with AUTH_MODE=disabled (make run without AUTH_MODE), or with a local secret and CONSOLE_DEMO_TOKENS=true (the requestor then signs a token for it).",
    ),
    pickError,
    h(
      "ul",
      { class: "principals" },
      ...demoPrincipals.map((principal) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", "data-principal": principal.sub, onclick: () => pick(principal) },
            `${principal.sub} (${principal.roles.join(", ")})`,
          ),
        ),
      ),
    ),
  )
  replace(main, h("div", { class: "grid" }, form, picker))
}

const start = (session: Session) => {
  saveSession(session)
  const first = (["buyer", "seller", "operator"] as const).find((role) => session.roles.includes(role)) ?? "buyer"
  location.hash = `#/${first}`
  route()
}

const route = () => {
  cleanup()
  cleanup = () => {}
  const session = loadSession()
  const [, view, ...rest] = location.hash.replace(/^#/, "").split("/")
  replace(
    who,
    session === undefined
      ? null
      : [
          h(
            "span",
            { id: "principal" },
            `${session.sub} · ${session.roles.join(", ")}${session.token === undefined ? " (local)" : ""}`,
          ),
          " ",
          h(
            "button",
            {
              type: "button",
              id: "signout",
              onclick: () => {
                saveSession(undefined)
                location.hash = "#/signin"
                route()
              },
            },
            "Sign out",
          ),
        ],
  )
  const allowed = (Object.keys(views) as Array<ViewName>).filter((name) => session?.roles.includes(name))
  replace(
    nav,
    ...allowed.map((name) =>
      h(
        "a",
        { href: `#/${name}`, "aria-current": name === view ? "page" : undefined },
        name[0]?.toUpperCase() + name.slice(1),
      ),
    ),
  )
  if (session === undefined || view === "signin" || view === undefined || view === "" || !(view in views)) {
    if (session !== undefined && allowed[0] !== undefined && view !== "signin") {
      location.hash = `#/${allowed[0]}`
      return
    }
    signIn()
    return
  }
  const orderId = rest.length === 0 || rest.join("/") === "" ? undefined : decodeURIComponent(rest.join("/"))
  document.title = `${view} · dCent console`
  cleanup = views[view as ViewName](main, session, orderId)
  main.focus({ preventScroll: true })
}

addEventListener("hashchange", route)
route()
