// Pre-run check of a model pool (one base + N fine-tuned models) before any long job: same tensor
// names, same shapes, compatible dtypes, optionally no NaN/Inf, and an estimate of peak memory.
// Mismatches are listed by name and the check says not ok; nothing is started from here.
import type { PoolCheck, PoolCheckIssue } from '#common/types'
import { AmalgamError } from '#common/errors'
import { isFloat, numel } from '../tensors/source'
import { throwIfCancelled, tick, type TaskCtx } from '../util/task'
import { firstNonFinite } from '../safetensors/dtype'
import { openModel, type ModelSource } from './open'

export interface PoolCheckOptions {
  /** read every float tensor of every model and count NaN/Inf (reads all weights; off by default) */
  scanNonFinite?: boolean
  /** merge method the pool is meant for; picks the memory profile of `estimatePeakBytes` */
  method?: string
}

/**
 * How a method uses memory:
 * - `streaming`: one tensor at a time from every input — peak ≈ factor × (inputs + 2) × largest
 *   tensor in f32 (the inputs' copies, the merged result and one scratch buffer; formats.md §6.2);
 * - `resident`: needs whole task vectors at once (global statistics, test-time training, per-task
 *   masks) — peak ≈ factor × (inputs + 1) × whole model in f32 + the streaming term for output.
 */
export interface PeakProfile { kind: 'streaming' | 'resident'; factor: number }

const RESIDENT: PeakProfile = { kind: 'resident', factor: 1 }
const STREAMING: PeakProfile = { kind: 'streaming', factor: 1 }

/**
 * Methods that hold all task vectors (or per-task masks / activations) at once. Matched by prefix so
 * `adamerging_layer_wise` and friends share a row; any other method is taken as streaming.
 */
const RESIDENT_PREFIXES = ['adamerging', 'awd', 'cat', 'consensus', 'doge', 'emr', 'fisher', 'lot', 'pcb', 'regmean', 'tall', 'tatr', 'ties']

export function peakProfile(method?: string): PeakProfile {
  if (!method) return STREAMING
  const m = method.toLowerCase()
  return RESIDENT_PREFIXES.some((p) => m === p || m.startsWith(`${p}_`) || m.startsWith(`${p}-`)) ? RESIDENT : STREAMING
}

/** Peak memory estimate in bytes (see PeakProfile for the two formulas). */
export function estimatePeakBytes(inputs: number, largestTensorElems: number, modelElems: number, profile: PeakProfile = STREAMING): number {
  const streaming = (inputs + 2) * largestTensorElems * 4
  if (profile.kind === 'streaming') return Math.ceil(profile.factor * streaming)
  return Math.ceil(profile.factor * (inputs + 1) * modelElems * 4 + streaming)
}

export async function checkPool(base: string, models: string[], opts: PoolCheckOptions = {}, ctx?: TaskCtx): Promise<PoolCheck> {
  if (models.length === 0) throw new AmalgamError('BAD_REQUEST', 'pool check needs at least one fine-tuned model besides the base')
  const issues: PoolCheckIssue[] = []
  const dtypeMix: Record<string, Record<string, number>> = {}
  const opened: Array<{ path: string; src: ModelSource }> = []
  const result = (ok: boolean, tensorCount: number, parameterCount: number, peak: number): PoolCheck =>
    ({ ok, base, models: [...models], tensorCount, parameterCount, dtypeMix, issues, estimatedPeakBytes: peak })
  try {
    for (const [i, path] of [base, ...models].entries()) {
      throwIfCancelled(ctx, 'pool check')
      ctx?.progress?.('headers', i / (models.length + 1), path)
      try {
        opened.push({ path, src: await openModel(path) })
      } catch (e) {
        issues.push({ kind: 'unreadable', model: path, detail: e instanceof Error ? e.message : String(e) })
      }
    }
    const baseSrc = opened.find((o) => o.path === base)?.src
    for (const { path, src } of opened) {
      const mix: Record<string, number> = {}
      for (const n of src.names()) { const d = src.meta(n).dtype; mix[d] = (mix[d] ?? 0) + 1 }
      dtypeMix[path] = mix
    }
    if (!baseSrc) return result(false, 0, 0, 0)

    const baseNames = baseSrc.names()
    let parameterCount = 0
    let largest = 0
    for (const n of baseNames) { const k = numel(baseSrc.meta(n).shape); parameterCount += k; if (k > largest) largest = k }

    for (const { path, src } of opened) {
      if (src === baseSrc) continue
      for (const n of baseNames) {
        if (!src.has(n)) { issues.push({ kind: 'missing', model: path, tensor: n, detail: `tensor "${n}" of the base is missing` }); continue }
        const a = baseSrc.meta(n)
        const b = src.meta(n)
        if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
          issues.push({ kind: 'shape', model: path, tensor: n, detail: `shape [${b.shape}] but the base has [${a.shape}]` })
        }
        // mixed float precisions are fine (all decode to f32); float vs integer is not mergeable
        if (isFloat(a.dtype) !== isFloat(b.dtype)) {
          issues.push({ kind: 'dtype', model: path, tensor: n, detail: `${b.dtype} but the base has ${a.dtype}` })
        }
      }
      for (const n of src.names()) {
        if (!baseSrc.has(n)) issues.push({ kind: 'extra', model: path, tensor: n, detail: `tensor "${n}" is not in the base` })
      }
    }

    if (opts.scanNonFinite) await scanNonFinite(opened, issues, ctx)

    const inputs = models.length + 1
    const peak = estimatePeakBytes(inputs, largest, parameterCount, peakProfile(opts.method))
    ctx?.progress?.('done', 1)
    return result(issues.length === 0, baseNames.length, parameterCount, peak)
  } finally {
    await Promise.all(opened.map((o) => o.src.close().catch(() => undefined)))
  }
}

async function scanNonFinite(opened: Array<{ path: string; src: ModelSource }>, issues: PoolCheckIssue[], ctx?: TaskCtx): Promise<void> {
  const total = opened.reduce((s, o) => s + o.src.names().length, 0)
  let done = 0
  for (const { path, src } of opened) {
    for (const n of src.names()) {
      throwIfCancelled(ctx, 'pool check')
      done++
      if (!isFloat(src.meta(n).dtype)) continue
      const data = await src.readF32(n)
      const first = firstNonFinite(data)
      if (first >= 0) {
        let nan = 0
        let inf = 0
        for (let i = first; i < data.length; i++) { const v = data[i]; if (v !== v) nan++; else if (v === Infinity || v === -Infinity) inf++ }
        issues.push({ kind: 'nonfinite', model: path, tensor: n, detail: `${nan} NaN and ${inf} ±Inf values (first at index ${first})` })
      }
      if (done % 8 === 0) { ctx?.progress?.('scan', done / total, n); await tick() }
    }
  }
}
