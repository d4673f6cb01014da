// Exemplars for data-dependent merging methods (Fisher, RegMean, AdaMerging …): a seeded uniform
// sample of a split (the train split by default, never the test split being evaluated), drawn
// by reservoir sampling so only the sampled encoded images are kept while streaming the split.
import { AmalgamError } from '#common/errors'
import type { TaskCtx } from '../util/task'
import { openImageDataset } from './index'
import { preprocessBatch, type ClipImageConfig, type PixelBatch } from './preprocess'
import type { ImageExample } from './types'

export interface ExemplarOptions {
  count: number
  split?: string
  seed?: number
}

/** splitmix32-style generator: small, seedable, identical on every platform */
function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296
  }
}

/** `count` examples of the split (all of it when smaller), in split order, preprocessed to NHWC. */
export async function sampleExemplars(dataDir: string, imageConfig: ClipImageConfig, opts: ExemplarOptions, ctx?: TaskCtx): Promise<PixelBatch> {
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new AmalgamError('BAD_PARAM', `exemplars: count must be a positive integer (got ${opts.count})`)
  const ds = await openImageDataset(dataDir, opts.split ?? 'train')
  const rand = seeded(opts.seed ?? 0)
  const keep: ImageExample[] = []
  let seen = 0
  for await (const batch of ds.batches(256, { ctx })) {
    for (const e of batch) {
      if (keep.length < opts.count) keep.push(e)
      else { const j = Math.floor(rand() * (seen + 1)); if (j < opts.count) keep[j] = e }
      seen++
    }
  }
  keep.sort((a, b) => a.index - b.index)
  return preprocessBatch(keep, imageConfig)
}
