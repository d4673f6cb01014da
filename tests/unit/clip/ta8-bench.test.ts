// End to end: `amalgam bench --benchmark clip-ta8` over a complete tiny TA8 layout on disk (full
// CLIP base, eight fine-tuned vision towers, eight ImageFolder test splits), run in-process. The
// report's numbers are checked against evaluateClipTasks on vision towers built here independently
// of the merge code (mean of the experts; θ0 + λ Σ τ), so a wrong model in a row fails the test.
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BenchReport, BenchRow } from '#common/types'
import { main } from '../../../main/cli/main'
import { evaluateClipTasks, type ClipEvalTask } from '../../../main/engine/clip/evaluate'
import { TA8_TASKS, type Ta8Task } from '../../../main/engine/clip/templates'
import { MemorySource, type MemTensor } from '../../../main/engine/tensors/source'
import { writeTinyTa8, type TinyTa8, type TinyTensors } from '../../fixtures/tiny-clip'

const root = mkdtempSync(join(tmpdir(), 'amalgam-ta8-bench-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let ta8: TinyTa8
beforeAll(async () => { ta8 = await writeTinyTa8(join(root, 'DIR')) })

function capture() {
  const out: string[] = []
  const err: string[] = []
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err }
}

/** A vision tower from per-tensor float64 combinations of the fixture's tensors. */
function combine(names: string[], f: (name: string, i: number) => number): MemorySource {
  const m = new Map<string, MemTensor>()
  for (const n of names) {
    const shape = ta8.base.get(n)!.shape
    const len = ta8.base.get(n)!.data.length
    const data = new Float32Array(len)
    for (let i = 0; i < len; i++) data[i] = f(n, i)
    m.set(n, { shape, data })
  }
  return new MemorySource(m)
}
const visionNames = (): string[] => [...ta8.base.keys()].filter((n) => n.startsWith('vision_model.'))
const memOf = (t: TinyTensors): MemorySource => new MemorySource(new Map([...t].map(([n, v]) => [n, { shape: v.shape, data: v.data }])))

async function accuracyOf(model: MemorySource | ((task: string) => MemorySource)): Promise<Record<string, number>> {
  const tasks: ClipEvalTask[] = TA8_TASKS.map((t) => ({ name: t, dataDir: join(ta8.dir, 'data', t) }))
  // no cacheDir: heads are rebuilt here, so a stale or wrong cached head in the bench would show
  const r = await evaluateClipTasks({ visionModel: model, base: ta8.baseDir, tasks, batchSize: 4 })
  return Object.fromEntries(TA8_TASKS.map((t) => [t, r.perTask[t].accuracy]))
}

describe('amalgam bench --benchmark clip-ta8 (tiny TA8 layout)', () => {
  it('reports pretrained, Individual and two merges whose accuracies match direct evaluations', async () => {
    const outFile = join(root, 'report.json')
    const c = capture()
    const code = await main(['bench', '--benchmark', 'clip-ta8', '--data', ta8.dir, '--method', 'task_arithmetic', '--method', 'simple_average', '--reference', '--json', outFile, '--quiet'], c.io)
    expect(code, c.err.join('\n')).toBe(0)
    expect(c.err).toEqual([])
    const report = JSON.parse(readFileSync(outFile, 'utf8')) as BenchReport & { failures: string[]; backend: string }
    expect(report.benchmark).toBe('clip-ta8')
    expect(report.tasks).toEqual(['sun397', 'stanford-cars', 'resisc45', 'eurosat', 'svhn', 'gtsrb', 'mnist', 'dtd'])
    expect(report.failures).toEqual([])
    expect(report.rows.map((r) => [r.name, r.kind])).toEqual([['pretrained', 'pretrained'], ['Individual', 'expert'], ['task_arithmetic', 'method'], ['simple_average', 'method']])
    expect(c.out.join('\n')).toMatch(/simple_average/)
    const row = (name: string): BenchRow => report.rows.find((r) => r.name === name)!

    for (const r of report.rows) {
      expect(Object.keys(r.accuracy)).toEqual(report.tasks)
      for (const t of TA8_TASKS) {
        const a = r.accuracy[t]
        expect(a).toBeGreaterThanOrEqual(0); expect(a).toBeLessThanOrEqual(1)
        // the whole test split was scored: accuracy is a count over its images
        expect(Math.abs(a * ta8.sizes[t] - Math.round(a * ta8.sizes[t]))).toBeLessThan(1e-9)
      }
      expect(r.average).toBeCloseTo(TA8_TASKS.reduce((s, t) => s + r.accuracy[t], 0) / 8, 12)
    }
    const ind = row('Individual')
    expect(ind.normalized).toBe(1)
    // every row, pretrained included, is normalised against the experts measured in this run
    for (const name of ['pretrained', 'task_arithmetic', 'simple_average']) {
      const want = TA8_TASKS.reduce((s, t) => s + row(name).accuracy[t] / ind.accuracy[t], 0) / 8
      expect(row(name).normalized, name).toBeCloseTo(want, 12)
    }

    // independent vision towers → evaluateClipTasks → the same per-task accuracies
    const names = visionNames()
    const experts = TA8_TASKS.map((t) => ta8.experts[t])
    const lambda = row('task_arithmetic').params?.scaling_factor
    expect(lambda).toBe(0.3)
    const avg = combine(names, (n, i) => experts.reduce((s, e) => s + e.get(n)!.data[i], 0) / experts.length)
    const ta = combine(names, (n, i) => { const b = ta8.base.get(n)!.data[i]; return b + (lambda as number) * experts.reduce((s, e) => s + e.get(n)!.data[i] - b, 0) })
    const want = {
      pretrained: await accuracyOf(combine(names, (n, i) => ta8.base.get(n)!.data[i])),
      Individual: await accuracyOf((task) => memOf(ta8.experts[task as Ta8Task])),
      task_arithmetic: await accuracyOf(ta),
      simple_average: await accuracyOf(avg),
    }
    for (const [name, acc] of Object.entries(want)) {
      for (const t of TA8_TASKS) expect(row(name).accuracy[t], `${name} on ${t}`).toBeCloseTo(acc[t], 12)
    }
    // the fixture must tell the models apart, or the comparison above could not catch a swapped model
    const vec = (name: string) => JSON.stringify(TA8_TASKS.map((t) => row(name).accuracy[t]))
    expect(new Set(['pretrained', 'Individual', 'task_arithmetic', 'simple_average'].map(vec)).size).toBe(4)
  }, 60_000)

  it('fails with a non-zero exit naming a missing expert folder', async () => {
    const expert = join(ta8.dir, 'models', 'clip-vit-base-patch32_mnist')
    renameSync(expert, `${expert}.away`)
    try {
      const c = capture()
      const code = await main(['bench', '--benchmark', 'clip-ta8', '--data', ta8.dir, '--method', 'simple_average', '--quiet'], c.io)
      expect(code).not.toBe(0)
      expect(c.err).toHaveLength(1)
      expect(c.err[0]).toMatch(/missing 1 folder\(s\)/)
      expect(c.err[0]).toContain(join('models', 'clip-vit-base-patch32_mnist'))
    } finally {
      renameSync(`${expert}.away`, expert)
    }
  })
})
