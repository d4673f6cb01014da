// Reference rows of the mini-8 table: the pretrained model, the Individual experts (each task
// with its own expert, the papers' convention), every expert on all tasks, and the multi-task
// model ("Traditional MTL"). Computed by build:mini8 and stored in resources/mini8/reference.json.
import { join } from 'node:path'
import type { BenchRow } from '#common/types'
import type { TaskCtx } from '../util/task'
import { writeFileAtomic } from '../util/atomic'
import { openModel } from '../checkpoints/open'
import type { TensorSource } from '../tensors/source'
import { evaluate, toBenchRow } from './evaluate'
import { loadMini8, REFERENCE_FILE, type Mini8, type ReferenceFile } from './mini8'

/** The stored reference rows (pretrained, Individual, multitask); recompute with computeReferenceRows. */
export async function referenceRows(bench?: Mini8): Promise<BenchRow[]> {
  const b = bench ?? (await loadMini8())
  const r = b.reference()
  if (!r) throw new Error(`mini-8: ${join(b.root, REFERENCE_FILE)} is missing (run npm run build:mini8)`)
  return r.rows
}

async function withModel<T>(dir: string, f: (s: TensorSource) => Promise<T>): Promise<T> {
  const m = await openModel(dir)
  try { return await f(m) } finally { await m.close() }
}

/** Evaluates every reference model on test (and the experts on val) and writes reference.json. */
export async function computeReferenceRows(bench?: Mini8, ctx?: TaskCtx, extra: Partial<ReferenceFile> = {}): Promise<ReferenceFile> {
  const b = bench ?? (await loadMini8())
  const sub = (lo: number, hi: number): TaskCtx => ({ ...ctx, progress: (s, f, m) => ctx?.progress?.(s, lo + (hi - lo) * f, m) })
  const n = b.tasks.length + 3
  // Individual first: it is the denominator of every normalised figure below.
  const opened = new Map<string, TensorSource & { close(): Promise<void> }>()
  const expertFor = async (t: string) => {
    let m = opened.get(t)
    if (!m) { m = await openModel(b.expertDirs[t]); opened.set(t, m) }
    return m
  }
  let individual, individualVal
  try {
    individual = await evaluate(expertFor, { bench: b, individual: null }, sub(0, 1 / n))
    individualVal = await evaluate(expertFor, { bench: b, split: 'val', individual: null }, sub(1 / n, 2 / n))
  } finally { for (const m of opened.values()) await m.close() }
  const ind = Object.fromEntries(b.tasks.map((t) => [t, individual.perTask[t].accuracy]))
  const indRow = toBenchRow('Individual', 'expert', individual)
  indRow.normalized = 1
  const pre = await withModel(b.pretrainedDir, (s) => evaluate(s, { bench: b, individual: ind }, sub(2 / n, 3 / n)))
  const experts: BenchRow[] = []
  for (const [i, t] of b.tasks.entries()) {
    const r = await withModel(b.expertDirs[t], (s) => evaluate(s, { bench: b, individual: ind }, sub((3 + i) / n, (4 + i) / n)))
    experts.push(toBenchRow(`Expert: ${t}`, 'expert', r, { method: `expert:${t}` }))
  }
  const mtl = await withModel(b.multitaskDir, (s) => evaluate(s, { bench: b, individual: ind }, sub((n - 1) / n, 1)))
  const file: ReferenceFile = {
    benchmark: 'mini8', tasks: b.tasks, split: 'test',
    rows: [toBenchRow('Pretrained', 'pretrained', pre), indRow, toBenchRow('Traditional MTL', 'multitask', mtl)],
    experts,
    individualVal: Object.fromEntries(b.tasks.map((t) => [t, individualVal.perTask[t].accuracy])),
    ...extra,
  }
  await writeFileAtomic(join(b.root, REFERENCE_FILE), JSON.stringify(file, null, 2) + '\n')
  return file
}
