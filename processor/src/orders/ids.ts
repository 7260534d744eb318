/**
 * Identifier rules. Order ids travel as broker message keys (`<TOPIC>.<OrderReqID>`) and inside
 * Redis keys and timer members, so they are restricted like the requestor's: letters, digits,
 * `_`, `-`, and single `.` or `:` between them, at most 128 characters. Proposal ids follow the
 * same rule; transaction uuids may also contain several `.`/`:` in a row.
 */
export const idPattern = /^[A-Za-z0-9_-]+(?:[.:][A-Za-z0-9_-]+)*$/u
export const transactionPattern = /^[A-Za-z0-9._:-]+$/u
export const maxIdLength = 128

export const idRuleText = 'letters, digits, "_" or "-" (single "." or ":" allowed between them), at most 128 characters'

/** Why `value` is not a valid order/proposal id, or `undefined`. */
export const idProblem = (value: string): string | undefined => {
  if (value === "") return "required"
  if (value.length > maxIdLength) return `at most ${maxIdLength} characters`
  if (!idPattern.test(value)) return `expected ${idRuleText}`
  return undefined
}

/** Why `value` is not a valid transaction uuid, or `undefined`. */
export const transactionProblem = (value: string): string | undefined => {
  if (value === "") return "required"
  if (value.length > maxIdLength) return `at most ${maxIdLength} characters`
  if (!transactionPattern.test(value)) return 'expected letters, digits, ".", "_", ":" or "-"'
  return undefined
}
