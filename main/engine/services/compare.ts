// The compare table of the history view (the seed papers' table shape): tasks as columns, one row
// per experiment, the best value per task, how many tasks each row wins (#best), and only the
// parameters that differ between the rows.
import type { BenchRow, CompareTable, ExperimentRecord } from '#common/types'

export function buildCompareTable(records: ExperimentRecord[], taskOrder: string[] = [], reference?: BenchRow[]): CompareTable {
  const tasks = [...taskOrder]
  for (const r of records) for (const t of Object.keys(r.metrics ?? {})) if (!tasks.includes(t)) tasks.push(t)
  const bestPerTask: Record<string, string> = {}
  const bestValue: Record<string, number> = {}
  for (const t of tasks) {
    for (const r of records) {
      const v = r.metrics?.[t]
      if (v === undefined || v === null || !Number.isFinite(v)) continue
      if (!(t in bestValue) || v > bestValue[t]!) { bestValue[t] = v; bestPerTask[t] = r.id }
    }
  }
  const rows = records.map((r) => ({
    id: r.id, name: r.name, method: r.method, params: r.params,
    accuracy: Object.fromEntries(tasks.filter((t) => r.metrics?.[t] !== undefined).map((t) => [t, r.metrics![t]!])),
    average: r.average ?? null, normalized: r.normalized ?? null,
    // ties count for every row that reaches the best value (as the papers' bold entries do)
    best: tasks.filter((t) => t in bestValue && r.metrics?.[t] === bestValue[t]).length,
  }))
  const table: CompareTable = { tasks, rows, bestPerTask, paramDiff: paramDiff(records) }
  if (reference) table.reference = reference
  return table
}

/** Keys (method, seed, every parameter) whose values are not the same for all rows. */
export function paramDiff(records: ExperimentRecord[]): CompareTable['paramDiff'] {
  if (records.length < 2) return []
  const keys = new Set<string>()
  for (const r of records) for (const k of Object.keys(r.params)) keys.add(k)
  const out: CompareTable['paramDiff'] = []
  const consider = (key: string, get: (r: ExperimentRecord) => unknown) => {
    const values = Object.fromEntries(records.map((r) => [r.id, get(r)]))
    const first = JSON.stringify(values[records[0]!.id] ?? null)
    if (records.some((r) => JSON.stringify(values[r.id] ?? null) !== first)) out.push({ key, values })
  }
  consider('method', (r) => r.method)
  consider('seed', (r) => r.seed)
  for (const k of [...keys].sort()) consider(k, (r) => r.params[k])
  return out
}
