// History queries over 10 000 synthetic experiments (npm run bench:history).
// Goal: every query ≤ 100 ms. Beside each figure: the floor of a query that has to look at every
// row — one pass over all rows' stored JSON (SELECT sum(length(...))) — as the physical ceiling
// on what a non-indexed query can reach.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDb } from '../main/engine/store/db'
import { ExperimentStore } from '../main/engine/store/experiments'
import { PoolStore } from '../main/engine/store/pools'
import { buildCompareTable } from '../main/engine/services/compare'
import type { HistoryQuery } from '../common/types'

const N = Number(process.env.N ?? 10_000)
const REPS = Number(process.env.REPS ?? 25)
const GOAL_MS = 100
const TASKS = ['sun397', 'stanford_cars', 'resisc45', 'eurosat', 'svhn', 'gtsrb', 'mnist', 'dtd']
const METHODS = ['simple_average', 'task_arithmetic', 'ties_merging', 'dare_task_arithmetic', 'dare_ties_merging', 'tsvm', 'iso_c', 'doge_ta', 'pcb', 'model_stock']
const STATUSES = ['done', 'done', 'done', 'done', 'failed', 'cancelled'] as const

let seed = 12345
const rand = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }

const dir = mkdtempSync(join(tmpdir(), 'amalgam-bench-history-'))
try {
  const db = openDb(join(dir, 'amalgam.db'))
  new PoolStore(db).insert({ id: 'p1', name: 'mini8', base: '/b', models: TASKS.map((t) => `/m/${t}`), benchmark: 'mini8' })
  const store = new ExperimentStore(db)
  const t0 = performance.now()
  db.transaction(() => {
    for (let i = 0; i < N; i++) {
      const id = `e${String(i).padStart(6, '0')}`
      const method = METHODS[i % METHODS.length]!
      const status = STATUSES[Math.floor(rand() * STATUSES.length)]!
      const created = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString()
      store.insert({
        id, name: `${method} run ${i}`, method, params: { scaling_factor: Math.round(rand() * 100) / 100, threshold: Math.floor(rand() * 100) },
        seed: i % 7, poolId: 'p1', benchmark: 'mini8', engineVersion: '0.1.0', backend: 'wasm', recipeYaml: `format: 1\nmethod: ${method}\n`,
        tags: i % 10 === 0 ? ['sweep:abc', 'paper'] : i % 3 === 0 ? ['baseline'] : [], createdAt: created,
      })
      if (status === 'done') {
        const metrics = Object.fromEntries(TASKS.map((t) => [t, Math.round(rand() * 1e4) / 1e4]))
        const average = TASKS.reduce((a, t) => a + metrics[t]!, 0) / TASKS.length
        store.update(id, { status, metrics, average, normalized: average / 0.9, durationMs: Math.floor(rand() * 1e5), starred: i % 50 === 0, note: i % 97 === 0 ? 'promising λ' : undefined })
      } else {
        store.update(id, { status, error: status === 'failed' ? 'out of memory' : 'cancelled by user' })
      }
    }
  })()
  const insertMs = performance.now() - t0
  db.pragma('optimize')

  const floor = () => db.prepare('SELECT sum(length(params_json) + coalesce(length(metrics_json), 0) + length(name) + length(note)) AS n FROM experiments').get()
  const ids10 = store.list({ status: 'done', sort: 'average', desc: true, limit: 10 }).rows.map((r) => r.id)
  const ids100 = store.list({ status: 'done', sort: 'average', desc: true, limit: 100 }).rows.map((r) => r.id)
  const q = (h: HistoryQuery) => () => store.list(h)
  const cases: Array<[string, () => unknown]> = [
    ['list: newest 100', q({})],
    ['filter: method', q({ method: 'ties_merging' })],
    ['filter: status done, sort average desc', q({ status: 'done', sort: 'average', desc: true })],
    ['filter: tag', q({ tag: 'paper' })],
    ['filter: starred', q({ starred: true })],
    ['sort: metric:mnist desc', q({ sort: 'metric:mnist', desc: true })],
    ['sort: name asc, page at 5000', q({ sort: 'name', desc: false, offset: 5000 })],
    ['search: "promising"', q({ search: 'promising' })],
    ['search: 2 words + method filter', q({ search: 'run 99', method: 'tsvm' })],
    ['compare: 10 experiments', () => buildCompareTable(ids10.map((id) => store.get(id)))],
    ['compare: 100 experiments', () => buildCompareTable(ids100.map((id) => store.get(id)))],
  ]
  const time = (fn: () => unknown) => {
    fn() // warm the statement cache and pages
    const ts: number[] = []
    for (let r = 0; r < REPS; r++) { const a = performance.now(); fn(); ts.push(performance.now() - a) }
    ts.sort((a, b) => a - b)
    return { median: ts[Math.floor(ts.length / 2)]!, p95: ts[Math.min(ts.length - 1, Math.floor(ts.length * 0.95))]! }
  }
  const f = time(floor)
  console.log(`history benchmark: ${N} experiments (${TASKS.length} tasks each), inserted in ${insertMs.toFixed(0)} ms; ${REPS} repetitions per query`)
  console.log(`floor (one pass over every row's stored text): median ${f.median.toFixed(2)} ms\n`)
  const rows = cases.map(([name, fn]) => ({ name, ...time(fn) }))
  const w = Math.max(...rows.map((r) => r.name.length))
  console.log(`${'query'.padEnd(w)} | median ms | p95 ms | floor ms | goal ms | ok`)
  console.log(`${'-'.repeat(w)}-|-----------|--------|----------|---------|---`)
  for (const r of rows) {
    console.log(`${r.name.padEnd(w)} | ${r.median.toFixed(2).padStart(9)} | ${r.p95.toFixed(2).padStart(6)} | ${f.median.toFixed(2).padStart(8)} | ${String(GOAL_MS).padStart(7)} | ${r.p95 <= GOAL_MS ? 'yes' : 'NO'}`)
  }
  db.close()
  if (rows.some((r) => r.p95 > GOAL_MS)) process.exitCode = 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}
