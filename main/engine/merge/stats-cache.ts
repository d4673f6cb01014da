// Activation statistics (model/capture.ts) in the merge cache: one entry per (captured model, data,
// task, exemplar draw), stored as a JSON index plus one float64 array per Gram group and one for
// all LayerNorm energies. q/k/v share one Gram object in memory and one array on the store, and
// come back shared. An entry holds the kinds (grams, norms) captured so far; a request for a kind
// it lacks reads the rest from the entry and computes only what is missing (forEachTaskStats).
import type { ActivationStats, GramStat, NormStat } from '../model/capture'
import type { ClipVisionConfig } from '../model/config'
import { cacheKey, type MergeCache } from './cache'

export const STATS_NS = 'activation-stats'
// Bump when captureActivations or the forward pass changes what the sums are.
const STATS_VERSION = 'activation-stats-v1'

export interface StatsKinds { grams: boolean; norms: boolean }

export interface StatsKeyInput {
  /** content key of the model whose activations are captured (MergeCache.modelKey) */
  model: string
  /** MergeData.fingerprint */
  data: string
  config: ClipVisionConfig
  /** task whose training exemplars are drawn (0-based, pool order) */
  task: number
  n: number
  seed: number
  /** ExemplarOptions.shuffle (labels do not change the statistics) */
  shuffle: boolean
  /** the TF.js backend of the forward pass: backends round float32 differently */
  backend: string
}

/**
 * The batch size is not part of the key: the forward pass of an image does not depend on its batch
 * (measured on mini-8: Grams from batches of 16 and 32 differ by ≤ 2.1e-16 of the largest entry,
 * LayerNorm energies not at all), so methods with different batch sizes share statistics.
 */
export function statsKey(k: StatsKeyInput): string {
  return cacheKey(STATS_VERSION, k.model, k.data, JSON.stringify(k.config), k.task, k.n, k.seed, k.shuffle ? 'shuffled' : 'stored-order', k.backend, 'units:all')
}

export interface StatsIndex {
  version: string
  images: number
  /** unit → Gram group, in capture order; absent when Grams were not captured */
  grams: Array<[string, number]> | null
  groups: Array<{ dim: number; rows: number }>
  /** LayerNorm energies in capture order, concatenated in part 'norms'; absent when not captured */
  norms: Array<{ unit: string; dim: number; rows: number }> | null
}

const groupPart = (g: number): string => `g${g}`

/** Index plus arrays (no copies: the arrays are the statistics' own). */
export function serialiseStats(s: ActivationStats, kinds: StatsKinds): { index: StatsIndex; parts: Array<[string, Float64Array]> } {
  const parts: Array<[string, Float64Array]> = []
  const index: StatsIndex = { version: STATS_VERSION, images: s.images, grams: null, groups: [], norms: null }
  if (kinds.grams) {
    const groupOf = new Map<GramStat, number>()
    index.grams = []
    for (const [unit, g] of s.grams) {
      let i = groupOf.get(g)
      if (i === undefined) {
        i = index.groups.length
        groupOf.set(g, i)
        index.groups.push({ dim: g.dim, rows: g.rows })
        parts.push([groupPart(i), g.gram])
      }
      index.grams.push([unit, i])
    }
  }
  if (kinds.norms) {
    index.norms = [...s.norms].map(([unit, n]) => ({ unit, dim: n.dim, rows: n.rows }))
    const all = new Float64Array(index.norms.reduce((a, n) => a + n.dim, 0))
    let o = 0
    for (const n of s.norms.values()) { all.set(n.sq, o); o += n.dim }
    parts.push(['norms', all])
  }
  return { index, parts }
}

function validIndex(x: unknown): x is StatsIndex {
  const i = x as StatsIndex
  return !!i && i.version === STATS_VERSION && Number.isInteger(i.images) && Array.isArray(i.groups)
    && (i.grams === null || (Array.isArray(i.grams) && i.grams.every((e) => Array.isArray(e) && typeof e[0] === 'string' && Number.isInteger(e[1]) && e[1] >= 0 && e[1] < i.groups.length)))
    && i.groups.every((g) => Number.isInteger(g?.dim) && g.dim > 0 && Number.isInteger(g.rows))
    && (i.norms === null || (Array.isArray(i.norms) && i.norms.every((n) => typeof n?.unit === 'string' && Number.isInteger(n.dim) && n.dim > 0 && Number.isInteger(n.rows))))
}

export interface CachedStats {
  /** the kinds the entry holds */
  has: StatsKinds
  index: StatsIndex
  /** the requested kinds the entry holds (a kind not requested is left empty) */
  stats: ActivationStats
}

/**
 * The entry's index and the arrays of the requested kinds it has, or null when there is no intact
 * entry. A requested kind the entry lacks is looked up as a part anyway, so that the run's cache
 * counts record the entry as a miss.
 */
export async function readStats(cache: MergeCache, key: string, want: StatsKinds): Promise<CachedStats | null> {
  const index = await cache.getJson<StatsIndex>(STATS_NS, key)
  if (!validIndex(index)) return null
  const has: StatsKinds = { grams: index.grams !== null, norms: index.norms !== null }
  const stats: ActivationStats = { images: index.images, grams: new Map(), norms: new Map() }
  if (want.grams && index.grams) {
    const groups: GramStat[] = []
    for (const [g, meta] of index.groups.entries()) {
      const a = await cache.getF64(STATS_NS, key, groupPart(g))
      if (!a || a.length !== meta.dim * meta.dim) return markMiss(cache, key)
      groups.push({ dim: meta.dim, rows: meta.rows, gram: a })
    }
    for (const [unit, g] of index.grams) stats.grams.set(unit, groups[g]!)
  }
  if (want.norms && index.norms) {
    const a = await cache.getF64(STATS_NS, key, 'norms')
    if (!a || a.length !== index.norms.reduce((s, n) => s + n.dim, 0)) return markMiss(cache, key)
    let o = 0
    for (const n of index.norms) { stats.norms.set(n.unit, { dim: n.dim, rows: n.rows, sq: a.slice(o, o + n.dim) } satisfies NormStat); o += n.dim }
  }
  if ((want.grams && !has.grams) || (want.norms && !has.norms)) await markMiss(cache, key)
  return { has, index, stats }
}

/**
 * Records the entry as a miss in the run's counts (CountingMergeCache: a missing part turns the
 * entry into a miss) when its index was found but it cannot serve the request: looks up a part
 * name that is never written.
 */
async function markMiss(cache: MergeCache, key: string): Promise<null> {
  await cache.getF64(STATS_NS, key, 'not-cached')
  return null
}

/**
 * Writes the `kinds` of `s`; the kinds `keep` (the entry's index as read) holds and `s` does not
 * replace stay as they are — their arrays are separate parts. Arrays first, index last: an index
 * never names an array that was not written.
 */
export async function writeStats(cache: MergeCache, key: string, s: ActivationStats, kinds: StatsKinds, keep?: StatsIndex): Promise<void> {
  const { index, parts } = serialiseStats(s, kinds)
  if (keep && !kinds.grams && keep.grams) { index.grams = keep.grams; index.groups = keep.groups }
  if (keep && !kinds.norms && keep.norms) index.norms = keep.norms
  for (const [part, a] of parts) await cache.putF64(STATS_NS, key, a, part)
  await cache.putJson(STATS_NS, key, index)
}
