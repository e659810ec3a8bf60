// The one statistic the harness quotes.

/** The median of the numbers in `values` (nulls left out); null when there are none. */
export function median(values) {
  const sorted = values.filter((v) => v !== null && v !== undefined && !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The median over `runs` of each of the figures named in `names`, as one object. */
export function medians(runs, names) {
  const result = {}
  for (const name of names) result[name] = median(runs.map((run) => run[name]))
  return result
}
