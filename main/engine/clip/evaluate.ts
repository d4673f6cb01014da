// FusionBench-style evaluation of CLIP vision towers on local image datasets (methods.md §28.3):
// the merged vision tower replaces the base's, each task's classifier is the base's zero-shot text
// head, logits = exp(logit_scale) · L2norm(visual_projection(pooled)) · headᵀ, and the metric is
// top-1 accuracy (and mean cross-entropy) on the whole split, averaged over tasks unweighted.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type * as tfjs from '@tensorflow/tfjs'
import type { EvalResult, EvalTaskResult } from '#common/types'
import { AmalgamError } from '#common/errors'
import { type TaskCtx, throwIfCancelled, tick } from '../util/task'
import type { TensorSource } from '../tensors/source'
import { ClipVision } from '../model/clip-vision'
import { getModelTf, tf } from '../model/tf'
import { normalizedAccuracy } from '../benchmark/evaluate'
import { openImageDataset, type ImageDataset } from '../datasets'
import { preprocessBatch, type ClipImageConfig, type PixelBatch } from '../datasets/preprocess'
import { openClipBase, type ClipBase } from './base'
import { ClipText } from './text-model'
import { zeroShotHeadCached, type ZeroShotHead } from './heads'
import { CLASS_NAMES, canonicalTask, readableClassName, templatesFor } from './templates'
import { OverlaySource } from './pool'

export interface ClipEvalTask {
  name: string
  /** dataset folder: ImageFolder (SPLIT/CLASS/*) or HF parquet shards */
  dataDir: string
  /** default 'test' */
  split?: string
  /** prompt class names in label order; default: classnames.json in dataDir, built-ins, or the dataset's labels */
  classNames?: string[]
  /** prompt templates with "{c}"; default: templates.json in dataDir, else the built-in list for the task */
  templates?: string[]
  /** evaluate only the first N examples (smoke runs; a full run leaves it unset) */
  limit?: number
}

export interface ClipEvalOptions {
  /** the (merged) vision tower, or one per task (per-task models such as TALL/EMR) */
  visionModel: TensorSource | ((task: string) => TensorSource | Promise<TensorSource>)
  /** full CLIP base folder (text tower, projections, logit_scale, tokenizer, preprocessor) */
  base: string
  tasks: ClipEvalTask[]
  /** images per forward (FusionBench uses 128; smaller keeps CPU memory low) */
  batchSize?: number
  /** where zero-shot heads are cached (the workspace cache); no disk cache when absent */
  cacheDir?: string
  /** fine-tuned expert accuracy per task in [0, 1], for `normalized` */
  expertAccuracy?: Record<string, number> | null
  benchmark?: string
}

function readStringArray(file: string, what: string): string[] {
  let j: unknown
  try { j = JSON.parse(readFileSync(file, 'utf8')) } catch (e) { throw new AmalgamError('BAD_FILE', `${file}: not valid JSON (${(e as Error).message})`) }
  if (!Array.isArray(j) || j.length === 0 || j.some((x) => typeof x !== 'string')) throw new AmalgamError('BAD_FILE', `${file}: must be a JSON array of ${what}`)
  return j as string[]
}

/** Prompt templates for a task: explicit, else templates.json in the data folder, else the built-in list. */
export function resolveTemplates(task: ClipEvalTask): string[] {
  if (task.templates) return task.templates
  const file = join(task.dataDir, 'templates.json')
  if (existsSync(file)) return readStringArray(file, 'template strings containing {c}')
  const builtIn = templatesFor(task.name)
  if (!builtIn) throw new AmalgamError('BAD_PARAM', `task ${task.name}: no built-in prompt templates; put a templates.json (array of strings with {c}) in ${task.dataDir}`)
  return [...builtIn]
}

/** Class names for a task's prompts (see ClipEvalTask.classNames for the order of preference). */
export function resolveClassNames(task: ClipEvalTask, ds: ImageDataset): string[] {
  if (task.classNames) return task.classNames
  const file = join(task.dataDir, 'classnames.json')
  if (existsSync(file)) return readStringArray(file, 'class-name strings in label order')
  const t = canonicalTask(task.name)
  const builtIn = t ? CLASS_NAMES[t] : undefined
  if (builtIn && (!ds.classNames || ds.classNames.length === builtIn.length)) return [...builtIn]
  if (ds.classNames) return ds.classNames.map(readableClassName)
  throw new AmalgamError('BAD_FILE', `${ds.label}: the dataset carries no class names; put a classnames.json (array in label order) in ${task.dataDir}`)
}

export async function evaluateClipTasks(opts: ClipEvalOptions, ctx?: TaskCtx): Promise<EvalResult> {
  const t0 = performance.now()
  const batchSize = opts.batchSize ?? 64
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AmalgamError('BAD_PARAM', `evaluateClipTasks: batchSize must be a positive integer (got ${batchSize})`)
  if (opts.tasks.length === 0) throw new AmalgamError('BAD_PARAM', 'evaluateClipTasks: no tasks')
  const names = opts.tasks.map((t) => t.name)
  if (new Set(names).size !== names.length) throw new AmalgamError('BAD_PARAM', `evaluateClipTasks: duplicate task names in ${names.join(', ')}`)
  await getModelTf()
  const base = await openClipBase(opts.base)
  let text: ClipText | null = null
  let shared: ClipVision | null = null
  try {
    const datasets = await Promise.all(opts.tasks.map((t) => openImageDataset(t.dataDir, t.split ?? 'test')))
    const counts = opts.tasks.map((t, i) => Math.min(datasets[i].size, t.limit ?? Infinity))
    const total = counts.reduce((a, b) => a + b, 0)
    const baseHash = await base.textHash()
    const loadText = async (): Promise<ClipText> => (text ??= await ClipText.load(base.textConfig, base.source))
    const perTask: Record<string, EvalTaskResult> = {}
    if (typeof opts.visionModel !== 'function') shared = await loadVision(base, opts.visionModel)
    let done = 0
    for (let i = 0; i < opts.tasks.length; i++) {
      const task = opts.tasks[i], ds = datasets[i]
      throwIfCancelled(ctx, 'evaluation')
      const classNames = resolveClassNames(task, ds)
      const templates = resolveTemplates(task)
      if (ds.classNames && ds.classNames.length !== classNames.length) throw new AmalgamError('BAD_PARAM', `task ${task.name}: ${classNames.length} prompt class names but ${ds.label} has ${ds.classNames.length} classes`)
      ctx?.progress?.('zero-shot heads', i / opts.tasks.length, task.name)
      const head = await zeroShotHeadCached({ text: loadText, tokenizer: base.tokenizer, baseHash, classNames, templates, cacheDir: opts.cacheDir, task: task.name }, ctx)
      ctx?.log?.(`${task.name}: zero-shot head ${head.classes}×${head.dim} ${head.cached ? '(cached)' : '(built)'}`)
      let vm = shared
      if (!vm) vm = await loadVision(base, await (opts.visionModel as (t: string) => TensorSource | Promise<TensorSource>)(task.name))
      try {
        const start = done
        perTask[task.name] = await scoreTask(vm, head, Math.exp(base.logitScale), ds, base.imageConfig, batchSize, counts[i], async (k) => {
          ctx?.progress?.('evaluate', total ? (start + k) / total : 1, `${task.name} ${k}/${counts[i]}`)
          await tick()
          throwIfCancelled(ctx, 'evaluation')
        })
      } finally {
        if (vm !== shared) vm.dispose()
      }
      done += counts[i]
      ctx?.log?.(`${task.name}: accuracy ${(perTask[task.name].accuracy * 100).toFixed(2)} %, loss ${perTask[task.name].loss.toFixed(4)} (n = ${perTask[task.name].n})`)
    }
    const average = names.reduce((s, t) => s + perTask[t].accuracy, 0) / names.length
    const result: EvalResult = { benchmark: opts.benchmark ?? 'clip', tasks: names, perTask, average, seconds: (performance.now() - t0) / 1000 }
    const norm = normalizedAccuracy(Object.fromEntries(names.map((t) => [t, perTask[t].accuracy])), opts.expertAccuracy ?? null)
    if (norm !== null) result.normalized = norm
    return result
  } finally {
    shared?.dispose()
    ;(text as ClipText | null)?.dispose()
    await base.close()
  }
}

/** The vision tower with the base's visual_projection attached (never the model's own). */
async function loadVision(base: ClipBase, src: TensorSource): Promise<ClipVision> {
  return ClipVision.load(base.visionConfig, new OverlaySource(src, base.source, ['visual_projection.weight']), src.label)
}

/** Logits = scale · L2norm(image embeddings) · headᵀ for one batch, as a [n, classes] array. */
export function zeroShotLogits(vm: ClipVision, headT: tfjs.Tensor2D, scale: number, batch: PixelBatch): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor4d(batch.pixels, [batch.n, batch.size, batch.size, 3])
    const e = vm.embed(x)
    const unit = tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-12))
    return tf.mul(tf.matMul(unit, headT), scale).dataSync() as Float32Array
  })
}

async function scoreTask(vm: ClipVision, head: ZeroShotHead, scale: number, ds: ImageDataset, imageConfig: ClipImageConfig, batchSize: number, limit: number, onBatch: (done: number) => Promise<void>): Promise<EvalTaskResult> {
  const C = head.classes
  const headT = tf.tidy(() => tf.transpose(tf.tensor2d(head.weights, [C, head.dim])) as tfjs.Tensor2D)
  const it = ds.batches(batchSize, { limit })[Symbol.asyncIterator]()
  // decode/resize the next batch on libvips threads while the current one runs through the model
  const fetch = async (): Promise<PixelBatch | null> => { const r = await it.next(); return r.done ? null : preprocessBatch(r.value, imageConfig) }
  let correct = 0, lossSum = 0, n = 0
  try {
    let next = fetch()
    for (;;) {
      const cur = await next
      if (!cur) break
      next = fetch()
      next.catch(() => undefined)
      const logits = zeroShotLogits(vm, headT, scale, cur)
      for (let r = 0; r < cur.n; r++) {
        const y = cur.labels[r]
        if (y >= C) throw new AmalgamError('BAD_FILE', `${ds.label}: label ${y} but the head has ${C} classes; class names and dataset disagree`)
        const row = logits.subarray(r * C, (r + 1) * C)
        let best = 0, mx = row[0]
        for (let c = 1; c < C; c++) if (row[c] > mx) { mx = row[c]; best = c }
        let z = 0
        for (let c = 0; c < C; c++) z += Math.exp(row[c] - mx)
        lossSum += mx + Math.log(z) - row[y]
        if (best === y) correct++
      }
      n += cur.n
      await onBatch(n)
    }
  } finally {
    headT.dispose()
    await it.return?.(undefined)
  }
  if (n === 0) throw new AmalgamError('BAD_FILE', `${ds.label}: no examples`)
  return { accuracy: correct / n, loss: lossSum / n, n }
}
