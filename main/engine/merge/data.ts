// What the data-dependent merge methods (methods.md Part III) may read besides the weights: the
// model configuration to run the pool's models, exemplar images from each task's TRAINING split,
// unlabeled images of a task's evaluation split (AdaMerging is transductive, §24), and each task's
// frozen classification head. A benchmark or workspace supplies one MergeData per run; the pool's
// model i is task i of the data.
import { AmalgamError } from '#common/errors'
import type { ClipVisionConfig } from '../model/config'

/** Images already normalised as the model expects, NHWC, `count` of them. */
export interface ImageBatch {
  count: number
  side: number
  channels: number
  /** [count, side, side, channels] row-major */
  pixels: Float32Array
  /** class indices, present only when the caller asked for labels (TATR's data mode) */
  labels?: Int32Array
}

/** A frozen cosine classifier: logits = logitScale · normalise(embedding) · weightᵀ (CLIP zero-shot form). */
export interface TaskHead {
  /** [classes, dim] row-major, unit rows */
  weight: Float32Array
  classes: number
  dim: number
  logitScale: number
}

export interface ExemplarOptions {
  /** false: the first n training images in stored order (FusionBench's unshuffled Fisher loader) */
  shuffle?: boolean
  /** also return labels (only TATR's data mode uses them) */
  labels?: boolean
}

export interface MergeData {
  /** benchmark or dataset name, for diagnostics */
  readonly name: string
  readonly config: ClipVisionConfig
  /** number of tasks; must equal the pool's model count */
  readonly tasks: number
  /** task names in pool order */
  readonly taskNames: string[]
  /**
   * Identity of the data by content (the dataset files' checksums, the preprocessing and the task
   * order), the same across processes and machines. Statistics computed from this data are cached
   * under it (merge/cache.ts); a provider without one is never cached.
   */
  readonly fingerprint?: string
  /** n images of task `task` (0-based, pool order) from its training split, seeded sample without replacement */
  exemplars(task: number, n: number, seed: number, opts?: ExemplarOptions): Promise<ImageBatch>
  /** every image of a task's evaluation split, without labels (transductive adaptation) */
  unlabeled(task: number, split?: 'test' | 'val'): Promise<ImageBatch>
  head(task: number): Promise<TaskHead>
}

/** The data a data-dependent method needs, or a clear BAD_REQUEST when the run has none. */
export function requireData(method: string, data: MergeData | undefined, models: number): MergeData {
  if (!data) {
    throw new AmalgamError('BAD_REQUEST', `${method} is a data-dependent method: it needs a data provider (exemplar images and task heads), but the merge was started without one`)
  }
  if (data.tasks !== models) {
    throw new AmalgamError('BAD_REQUEST', `${method}: the data provider ${data.name} has ${data.tasks} tasks but the pool has ${models} fine-tuned models`)
  }
  return data
}

/** Rows [from, from + n) of a batch as a new batch (views, no copy). */
export function sliceBatch(b: ImageBatch, from: number, n: number): ImageBatch {
  const px = b.side * b.side * b.channels
  const out: ImageBatch = { count: n, side: b.side, channels: b.channels, pixels: b.pixels.subarray(from * px, (from + n) * px) }
  if (b.labels) out.labels = b.labels.subarray(from, from + n)
  return out
}

/** Concatenation of two batches of the same geometry. */
export function concatBatches(a: ImageBatch, b: ImageBatch): ImageBatch {
  const pixels = new Float32Array(a.pixels.length + b.pixels.length)
  pixels.set(a.pixels); pixels.set(b.pixels, a.pixels.length)
  return { count: a.count + b.count, side: a.side, channels: a.channels, pixels }
}
