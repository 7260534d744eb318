/**
 * The metric names a PromQL expression reads, for checking dashboards and alert rules against
 * what the services export. Not a PromQL parser: it removes what is not a metric name (strings,
 * label matchers, grouping clauses, ranges, Grafana variables, numbers) and keeps identifiers
 * that are not function calls or keywords.
 */

const keywords = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"])
const keywordsWithoutArguments = new Set(["bool", "offset", "inf", "nan"])

export const metricNamesIn = (expr: string): Array<string> => {
  const stripped = expr
    // Grafana's label_values(metric, label) names a label after the metric.
    .replace(/\blabel_values\s*\(([^,()]*(?:\{[^}]*\})?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)/g, " $1 ")
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ") // string literals
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, " ") // grouping label lists
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, " ") // Grafana variables ($__rate_interval, ${service})
  const names = new Set<string>()
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = match[0]
    const rest = stripped.slice((match.index ?? 0) + name.length)
    if (/^\s*\(/.test(rest)) continue // a function call or aggregation
    if (keywords.has(name.toLowerCase()) || keywordsWithoutArguments.has(name.toLowerCase())) continue
    // A number's exponent (1e3) or a duration unit after `offset 5m` starts with a digit before it.
    const before = stripped.slice(0, match.index ?? 0)
    if (/[0-9.]$/.test(before)) continue
    names.add(name)
  }
  return [...names]
}

/** The metric a histogram or summary series belongs to: `x_bucket`, `x_count`, `x_sum` → `x`. */
export const baseMetricName = (name: string) => name.replace(/_(bucket|count|sum)$/, "")

/** The metric names declared in a Prometheus text exposition (its `# HELP` and `# TYPE` lines). */
export const exportedMetricNames = (exposition: string): Set<string> => {
  const names = new Set<string>()
  for (const line of exposition.split("\n")) {
    const declared = /^# (?:HELP|TYPE) ([A-Za-z_:][A-Za-z0-9_:]*)/.exec(line)
    if (declared?.[1] !== undefined) names.add(declared[1])
  }
  return names
}
