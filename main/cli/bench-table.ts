// The seed papers' table shape: tasks as columns, then Avg, Normalized and #best (the number of
// tasks on which a method row is the best of the method rows), reference rows on top.
import type { BenchReport } from '#common/types'
import { pct, table } from './format'

export function bestCounts(report: BenchReport): Map<string, number> {
  const methodRows = report.rows.filter((r) => r.kind === 'method')
  const counts = new Map(methodRows.map((r) => [r.name, 0]))
  for (const t of report.tasks) {
    const best = Math.max(...methodRows.map((r) => r.accuracy[t] ?? -1))
    for (const r of methodRows) if (r.accuracy[t] === best) counts.set(r.name, (counts.get(r.name) ?? 0) + 1)
  }
  return counts
}

export function benchTable(report: BenchReport): string {
  const counts = bestCounts(report)
  const header = ['Method', ...report.tasks, 'Avg', 'Norm', '#best', 'sec']
  const rows: string[][] = []
  let sawMethod = false
  for (const r of report.rows) {
    const label = r.kind === 'expert' ? 'Individual' : r.kind === 'pretrained' ? 'Pretrained' : r.kind === 'multitask' ? 'Traditional MTL' : r.name
    if (r.kind === 'method' && !sawMethod) { sawMethod = true; rows.push(header.map(() => '')) }
    rows.push([
      label, ...report.tasks.map((t) => pct(r.accuracy[t])), pct(r.average), r.normalized === null ? '–' : pct(r.normalized),
      r.kind === 'method' ? String(counts.get(r.name) ?? 0) : '', r.kind === 'method' ? r.seconds.toFixed(1) : '',
    ])
  }
  return table(header, rows)
}
