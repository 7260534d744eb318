/**
 * Subjects: `<TOPIC>.<key>`. The first token is the topic (Kafka topic / JetStream stream), the
 * rest — which may itself contain dots — is the message key.
 *
 * Patterns (for subscriptions) follow NATS rules: tokens are separated by `.`, `*` matches exactly
 * one token, `>` matches one or more trailing tokens and must be the last token. A pattern needs a
 * topic token and at least one key token (`BUYER_NOTIFY.>`, `*.ORD-1`), except the lone `>`
 * (every topic, every key).
 *
 * Everything here is pure; invalid input throws {@link InvalidSubject}. `Effect` wrappers that map
 * it onto `BrokerError` live in `validate.ts`.
 */

/** Thrown by the parsers below; the message says what is wrong and quotes the input. */
export class InvalidSubject extends Error {
  readonly subject: string
  readonly reason: string
  constructor(subject: string, reason: string) {
    super(`invalid subject ${JSON.stringify(subject)}: ${reason}`)
    this.name = "InvalidSubject"
    this.subject = subject
    this.reason = reason
  }
}

export interface Subject {
  /** `<TOPIC>.<key>` */
  readonly subject: string
  readonly topic: string
  /** Everything after the first `.`; may contain dots. */
  readonly key: string
}

/** A topic token: valid as a Kafka topic name and as a JetStream stream name. */
const topicName = /^[A-Za-z0-9_-]+$/
/** Kafka's limit on topic names. */
const maxTopicLength = 249
/** A key token must not contain separators, wildcards or whitespace (NATS subject rules). */
const badKeyChar = /[\s*>]/

/** Why `name` is not a valid topic name, or `undefined` when it is. */
export const topicNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "the topic is empty"
  if (name.length > maxTopicLength) return `the topic is longer than ${maxTopicLength} characters`
  if (!topicName.test(name)) return `the topic ${JSON.stringify(name)} may only contain letters, digits, "_" and "-"`
  return undefined
}

export const isTopicName = (name: string): boolean => topicNameProblem(name) === undefined

const tokensOf = (subject: string): Array<string> => {
  if (subject.length === 0) throw new InvalidSubject(subject, "it is empty")
  const tokens = subject.split(".")
  const empty = tokens.indexOf("")
  if (empty !== -1) throw new InvalidSubject(subject, `token ${empty + 1} is empty (leading, trailing or double ".")`)
  return tokens
}

const checkKeyToken = (subject: string, token: string, wildcardsAllowed: boolean) => {
  if (wildcardsAllowed && (token === "*" || token === ">")) return
  if (token === "*" || token === ">") {
    throw new InvalidSubject(subject, `wildcard "${token}" is not allowed when publishing`)
  }
  if (badKeyChar.test(token)) {
    throw new InvalidSubject(
      subject,
      `token ${JSON.stringify(token)} contains whitespace or a wildcard character inside a token`,
    )
  }
}

/** Parses a concrete subject (publish side): no wildcards, a valid topic and a non-empty key. */
export const parseSubject = (subject: string): Subject => {
  const tokens = tokensOf(subject)
  const [topic, ...keyTokens] = tokens as [string, ...Array<string>]
  if (topic === "*" || topic === ">") {
    throw new InvalidSubject(subject, `wildcard "${topic}" is not allowed when publishing`)
  }
  const problem = topicNameProblem(topic)
  if (problem !== undefined) throw new InvalidSubject(subject, problem)
  if (keyTokens.length === 0) throw new InvalidSubject(subject, "it has no key (expected <TOPIC>.<key>)")
  for (const token of keyTokens) checkKeyToken(subject, token, false)
  return { subject, topic, key: keyTokens.join(".") }
}

/** Builds `<topic>.<key>`, validating both parts. */
export const formatSubject = (topic: string, key: string): string => parseSubject(`${topic}.${key}`).subject

/** A parsed subscription pattern. */
export interface SubjectPattern {
  readonly pattern: string
  readonly tokens: ReadonlyArray<string>
  /** The literal topic, or `undefined` when the topic token is `*` or `>` (any topic). */
  readonly topic: string | undefined
  /** The key part of the pattern (`>` when the pattern is the lone `>`). */
  readonly keyPattern: string
  /** True when the pattern covers every key of its topic(s): `<TOPIC>.>`, `*.>` or `>`. */
  readonly wholeTopic: boolean
}

/** Parses a subscription pattern; throws {@link InvalidSubject} with the reason. */
export const parsePattern = (pattern: string): SubjectPattern => {
  const tokens = tokensOf(pattern)
  tokens.forEach((token, i) => {
    if (token === ">" && i !== tokens.length - 1) {
      throw new InvalidSubject(pattern, `">" must be the last token (found at token ${i + 1} of ${tokens.length})`)
    }
  })
  const [first, ...rest] = tokens as [string, ...Array<string>]
  if (first === ">") {
    return { pattern, tokens, topic: undefined, keyPattern: ">", wholeTopic: true }
  }
  if (first !== "*") {
    const problem = topicNameProblem(first)
    if (problem !== undefined) throw new InvalidSubject(pattern, problem)
  }
  if (rest.length === 0) {
    throw new InvalidSubject(pattern, `it has no key part (use "${first}.>" for every key of the topic)`)
  }
  for (const token of rest) checkKeyToken(pattern, token, true)
  return {
    pattern,
    tokens,
    topic: first === "*" ? undefined : first,
    keyPattern: rest.join("."),
    wholeTopic: rest.length === 1 && rest[0] === ">",
  }
}

/** Token-wise NATS matching of a concrete subject against a parsed pattern. */
export const matchesPattern = (pattern: SubjectPattern, subject: string): boolean => {
  const p = pattern.tokens
  const s = subject.split(".")
  if (s.includes("")) return false
  for (let i = 0; i < p.length; i++) {
    const token = p[i]
    if (token === ">") return s.length > i
    if (i >= s.length) return false
    if (token !== "*" && token !== s[i]) return false
  }
  return s.length === p.length
}

/** Convenience: parses `pattern` and matches `subject` against it. */
export const matches = (pattern: string, subject: string): boolean => matchesPattern(parsePattern(pattern), subject)

/** Does the pattern's topic token accept `topic`? */
export const patternCoversTopic = (pattern: SubjectPattern, topic: string): boolean =>
  pattern.topic === undefined || pattern.topic === topic

/**
 * The topics a subscription reads: its literal topic, or — for a wildcard topic token — every topic
 * of `known` (deduplicated, in the given order).
 */
export const patternTopics = (pattern: SubjectPattern, known: Iterable<string>): ReadonlyArray<string> =>
  pattern.topic !== undefined ? [pattern.topic] : [...new Set(known)]

/** The pattern restricted to one topic, e.g. `*.ORD-1` on `SELLER_NOTIFY` → `SELLER_NOTIFY.ORD-1`. */
export const patternForTopic = (pattern: SubjectPattern, topic: string): string => `${topic}.${pattern.keyPattern}`
