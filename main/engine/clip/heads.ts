// Zero-shot classification heads from the CLIP text tower (methods.md §28.3): for each class, fill
// every template, encode, project, L2-normalise; average over templates and L2-normalise again.
// A head is the [classes, projectionDim] matrix of those unit vectors. Heads depend only on the
// base's text tower, the templates and the class names, so they are cached on disk by that key.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { AmalgamError } from '#common/errors'
import { openSafetensors } from '../safetensors/reader'
import { writeSafetensors } from '../safetensors/writer'
import { type TaskCtx, throwIfCancelled, tick } from '../util/task'
import type { ClipTokenizer } from './tokenizer'
import type { ClipText } from './text-model'
import { fillTemplates } from './templates'

export interface ZeroShotHead {
  /** row-major [classes, dim], each row unit length */
  weights: Float32Array
  classes: number
  dim: number
}

const HEAD_FORMAT = 'amalgam-zeroshot-head/1'

function normaliseRow(v: Float32Array | Float64Array, off: number, n: number): void {
  let s = 0
  for (let i = 0; i < n; i++) s += v[off + i] * v[off + i]
  const inv = 1 / Math.max(Math.sqrt(s), 1e-12)
  for (let i = 0; i < n; i++) v[off + i] *= inv
}

/** Builds a head by running every (class, template) prompt through the text tower, `batch` prompts at a time. */
export async function buildZeroShotHead(text: ClipText, tokenizer: ClipTokenizer, classNames: readonly string[], templates: readonly string[], ctx?: TaskCtx, batch = 128): Promise<ZeroShotHead> {
  if (classNames.length === 0) throw new AmalgamError('BAD_PARAM', 'zero-shot head: no class names')
  if (templates.length === 0) throw new AmalgamError('BAD_PARAM', 'zero-shot head: no templates')
  const prompts = classNames.flatMap((c) => fillTemplates(templates, c))
  const P = text.cfg.projectionDim, T = tokenizer.contextLength, nt = templates.length
  const sums = new Float64Array(classNames.length * P)
  for (let s = 0; s < prompts.length; s += batch) {
    throwIfCancelled(ctx, 'zero-shot head')
    const chunk = prompts.slice(s, s + batch)
    const ids = tokenizer.encodeBatch(chunk)
    const out = text.encode(ids, chunk.length, T)
    const emb = out.dataSync() as Float32Array
    out.dispose()
    for (let r = 0; r < chunk.length; r++) {
      normaliseRow(emb, r * P, P)
      const c = Math.floor((s + r) / nt)
      for (let d = 0; d < P; d++) sums[c * P + d] += emb[r * P + d]
    }
    await tick()
  }
  // averaging before the second normalisation only rescales the row, but keeps the steps as specified
  const weights = new Float32Array(classNames.length * P)
  for (let c = 0; c < classNames.length; c++) {
    for (let d = 0; d < P; d++) sums[c * P + d] /= nt
    normaliseRow(sums, c * P, P)
    for (let d = 0; d < P; d++) weights[c * P + d] = sums[c * P + d]
  }
  return { weights, classes: classNames.length, dim: P }
}

/** Cache key: base text-tower hash + templates + class names (order matters for all three). */
export function headCacheKey(baseHash: string, templates: readonly string[], classNames: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify({ format: HEAD_FORMAT, base: baseHash, templates, classNames })).digest('hex')
}

export interface CachedHeadArgs {
  text: () => Promise<ClipText>
  tokenizer: ClipTokenizer
  baseHash: string
  classNames: readonly string[]
  templates: readonly string[]
  /** folder for head files; no disk cache when absent */
  cacheDir?: string
  task?: string
}

/** The head from `cacheDir` when a file with the same key exists, else built and written atomically. */
export async function zeroShotHeadCached(a: CachedHeadArgs, ctx?: TaskCtx): Promise<ZeroShotHead & { cached: boolean }> {
  const key = headCacheKey(a.baseHash, a.templates, a.classNames)
  const file = a.cacheDir ? join(a.cacheDir, `zeroshot-${key.slice(0, 32)}.safetensors`) : null
  if (file && existsSync(file)) {
    const f = await openSafetensors(file)
    try {
      const e = f.tensors.get('head')
      if (f.metadata.key === key && e && e.shape.length === 2 && e.shape[0] === a.classNames.length) {
        return { weights: await f.readF32('head'), classes: e.shape[0], dim: e.shape[1], cached: true }
      }
      ctx?.log?.(`zero-shot head cache ${file} does not match its key; rebuilding`)
    } finally { await f.close() }
  }
  const head = await buildZeroShotHead(await a.text(), a.tokenizer, a.classNames, a.templates, ctx)
  if (file) {
    mkdirSync(a.cacheDir!, { recursive: true })
    await writeSafetensors(file, new Map([['head', { dtype: 'F32' as const, shape: [head.classes, head.dim], data: head.weights }]]), {
      format: HEAD_FORMAT, key, task: a.task ?? '', classes: JSON.stringify(a.classNames), templates: JSON.stringify(a.templates),
    })
  }
  return { ...head, cached: false }
}
