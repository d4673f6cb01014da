// The MergeData provider for the mini-8 benchmark: exemplars from each task's training split
// (seeded, without replacement, or the first n in stored order), the test/val images without
// labels for AdaMerging, and the frozen class-mean heads. Pool model i must be mini-8 task i.
import { AmalgamError } from '#common/errors'
import type { Mini8 } from '../benchmark/mini8'
import type { ImageSet } from '../benchmark/prepare'
import { MINI8_NORM } from '../benchmark/tasks'
import type { ImageBatch, MergeData } from './data'
import { cacheKey } from './cache'

// Bump when the exemplar sampling (Mini8.exemplars: Rng permutation prefix) or normalise() changes:
// cached statistics keyed by the fingerprint are then never read again.
const MINI8_DATA_CODE = 'mini8-merge-data-v1'

/** The data by content: every split's checksum from the manifest, the pixel normalisation, the task order. */
export function mini8DataFingerprint(bench: Mini8, tasks: string[] = bench.tasks): string {
  const m = bench.manifest
  const parts: Array<string | number> = [MINI8_DATA_CODE, m.version, m.imageSize, m.channels, MINI8_NORM.mean, MINI8_NORM.std, tasks.length]
  for (const t of tasks) {
    const mt = m.tasks.find((x) => x.name === t)
    if (!mt) throw new AmalgamError('BAD_PARAM', `mini-8 merge data: unknown task ${t}`)
    parts.push(t, ...(['train', 'val', 'test'] as const).map((s) => `${s}:${mt.splits[s]?.count ?? 0}:${mt.splits[s]?.sha256 ?? 'none'}`))
  }
  return `mini8:${cacheKey(...parts)}`
}

function normalise(bench: Mini8, set: { count: number; pixels: Uint8Array }): ImageBatch {
  const side = bench.config.imageSize, channels = bench.config.numChannels
  if (set.pixels.length !== set.count * side * side * channels) throw new AmalgamError('BAD_FILE', `mini-8: an image set has ${set.pixels.length} bytes for ${set.count} images of ${side}×${side}×${channels}`)
  const a = 1 / (255 * MINI8_NORM.std), b = -MINI8_NORM.mean / MINI8_NORM.std
  const pixels = new Float32Array(set.pixels.length)
  for (let i = 0; i < pixels.length; i++) pixels[i] = set.pixels[i] * a + b
  return { count: set.count, side, channels, pixels }
}

/** `tasks`: the pool's task order (default: the benchmark's). */
export function mini8MergeData(bench: Mini8, tasks: string[] = bench.tasks): MergeData {
  for (const t of tasks) if (!bench.tasks.includes(t)) throw new AmalgamError('BAD_PARAM', `mini-8 merge data: unknown task ${t} (tasks: ${bench.tasks.join(', ')})`)
  const name = (k: number): string => {
    const t = tasks[k]
    if (t === undefined) throw new AmalgamError('BAD_PARAM', `mini-8 merge data: task index ${k} outside 0..${tasks.length - 1}`)
    return t
  }
  let fingerprint: string | undefined
  return {
    name: 'mini8', config: bench.config, tasks: tasks.length, taskNames: [...tasks],
    // computed on first use: only runs with a merge cache need it
    get fingerprint() { return (fingerprint ??= mini8DataFingerprint(bench, tasks)) },
    async exemplars(k, n, seed, o = {}) {
      let set: ImageSet
      if (o.shuffle === false) {
        const all = bench.data(name(k), 'train')
        if (!Number.isInteger(n) || n < 1 || n > all.count) throw new AmalgamError('BAD_PARAM', `mini-8 exemplars: n must be an integer in 1..${all.count} (got ${n})`)
        const px = all.pixels.length / all.count
        set = { count: n, pixels: all.pixels.subarray(0, n * px), labels: all.labels.subarray(0, n) }
      } else set = bench.exemplars(name(k), n, seed)
      const out = normalise(bench, set)
      if (o.labels) out.labels = Int32Array.from(set.labels)
      return out
    },
    async unlabeled(k, split = 'test') { return normalise(bench, bench.data(name(k), split)) },
    async head(k) { return bench.head(name(k)) },
  }
}
