// TIES building blocks (methods.md §0.5 P1–P3, §3, §29): the keep fraction, the global-per-task
// magnitude thresholds by streaming selection, FusionBench's sign election with the majority-sign
// fallback, and the disjoint merge. Shared by ties_merging, dare_ties_merging and consensus masks.
import { paramError } from '../schema'
import type { MergeJob } from '../types'
import { AbsThresholds } from './_select'
import { flatLength, scanTensors, type Slice, type TensorFilter } from './_stream'
import { kernelAddon, kernelThreads } from '../../kernels/native-kernels'

export type MergeFunc = 'sum' | 'mean' | 'max'

/** FusionBench's reading of `threshold`: a percentage when > 1, else a fraction. 100 % is rejected. */
export function keepFraction(method: string, threshold: number, param = 'threshold'): number {
  const k = threshold > 1 ? threshold / 100 : threshold
  if (!(k >= 0 && k < 1)) throw paramError(method, param, `gives a keep fraction of ${k}; it must be in [0, 1) (100 % makes FusionBench's kthvalue(0) fail)`)
  return k
}

/** 1-indexed rank of the threshold in FusionBench's kth-value trim: k = d − int(d·K). */
export function trimRank(d: number, keep: number): number { return d - Math.trunc(d * keep) }

/**
 * Global-per-task thresholds: one exact k-th smallest |τ_t| over all selected tensors of task t,
 * computed by streaming selection (two read passes), never by materialising N × d.
 * `vectors(slice)` returns the (possibly transformed, e.g. DARE-dropped) task vectors of a tensor.
 */
export async function globalThresholds(
  job: MergeJob, keep: number, vectors: (s: Slice) => Float32Array[], filter?: TensorFilter, stage = 'thresholds',
): Promise<{ thresholds: number[]; d: number; rank: number }> {
  const d = flatLength(job, filter)
  const N = job.pool.models.length
  const rank = trimRank(d, keep)
  if (d === 0) return { thresholds: new Array(N).fill(Infinity), d, rank }
  const sel = new AbsThresholds(new Array(N).fill(rank), d)
  for (let pass = 0; pass < sel.passes; pass++) {
    await scanTensors(job, `${stage} ${pass + 1}/${sel.passes}`, (s) => {
      const v = vectors(s)
      for (let t = 0; t < N; t++) sel.feed(t, v[t])
    }, filter, { reuseInputs: true }) // the selector consumes the vectors before the callback returns
    sel.endPass()
  }
  return { thresholds: sel.thresholds(), d, rank }
}

/** v̂ = v where |v| ≥ q, else 0 (ties at the threshold kept). Returns the number kept. */
export function trimInPlace(v: Float32Array, q: number): number {
  let kept = 0
  for (let k = 0; k < v.length; k++) { const x = v[k]; const keep = Math.abs(x) >= q; v[k] = keep ? x : 0; kept += keep ? 1 : 0 }
  return kept
}

/** float32 Σ_t v̂_t in task order (the per-coordinate mass the sign is elected from). */
export function massSum(trimmed: Float32Array[]): Float32Array {
  const s = Float32Array.from(trimmed[0])
  for (let t = 1; t < trimmed.length; t++) { const v = trimmed[t]; for (let k = 0; k < s.length; k++) s[k] += v[k] }
  return s
}

/** Σ_e sgn(mass_e) contribution of one tensor to the global majority sign. */
export function signBalance(mass: Float32Array): number {
  let b = 0
  for (let k = 0; k < mass.length; k++) b += mass[k] > 0 ? 1 : mass[k] < 0 ? -1 : 0
  return b
}

/**
 * FusionBench's disjoint merge: the elected sign is sgn(mass), with exact zeros replaced by the
 * global majority sign `majority` (∈ {−1, 0, 1}). Entry v̂_t,e counts when (s > 0 and v̂ > 0) or
 * (s ≤ 0 and v̂ < 0). Returns the merged task vector (before λ).
 */
export function disjointMerge(trimmed: Float32Array[], mass: Float32Array, majority: number, func: MergeFunc): Float32Array {
  const n = mass.length
  // task-outer loops over contiguous arrays (V8 handles these far better than a per-element loop
  // over an array of arrays); the accumulation order per coordinate is still task order
  const sign = new Int8Array(n)
  for (let k = 0; k < n; k++) sign[k] = mass[k] > 0 ? 1 : mass[k] < 0 ? -1 : majority
  const acc = new Float32Array(n)
  if (func === 'sum') {
    for (const v of trimmed) for (let k = 0; k < n; k++) { const x = v[k]; if (sign[k] > 0 ? x > 0 : x < 0) acc[k] += x }
    return acc
  }
  if (func === 'mean') {
    const cnt = new Uint16Array(n)
    for (const v of trimmed) for (let k = 0; k < n; k++) { const x = v[k]; if (sign[k] > 0 ? x > 0 : x < 0) { acc[k] += x; cnt[k]++ } }
    for (let k = 0; k < n; k++) if (cnt[k] > 1) acc[k] = acc[k] / cnt[k]
    return acc
  }
  for (const v of trimmed) for (let k = 0; k < n; k++) { const x = v[k]; if ((sign[k] > 0 ? x > 0 : x < 0) && Math.abs(x) > acc[k]) acc[k] = Math.abs(x) }
  for (let k = 0; k < n; k++) acc[k] *= sign[k]
  return acc
}

/**
 * Trim (|v| ≥ q_t kept, in place), the float32 mass Σ_t v̂_t in task order and the "some trimmed
 * entry is non-zero" flags, fused into one pass per task over caller-owned scratch (`mass`,
 * `nonzero` of at least v's length). Same values as trimInPlace + massSum. Returns the kept counts.
 */
export function trimAndMass(v: Float32Array[], q: number[], mass: Float32Array, nonzero: Uint8Array): number[] {
  const n = v[0].length
  const kept: number[] = []
  for (let t = 0; t < v.length; t++) {
    const x = v[t], thr = q[t]
    let c = 0
    if (t === 0) {
      for (let k = 0; k < n; k++) { const a = x[k]; const y = Math.abs(a) >= thr ? a : 0; x[k] = y; mass[k] = y; nonzero[k] = y !== 0 ? 1 : 0; c += Math.abs(a) >= thr ? 1 : 0 }
    } else {
      for (let k = 0; k < n; k++) { const a = x[k]; const y = Math.abs(a) >= thr ? a : 0; x[k] = y; mass[k] += y; if (y !== 0) nonzero[k] = 1; c += Math.abs(a) >= thr ? 1 : 0 }
    }
    kept.push(c)
  }
  return kept
}

/**
 * disjointMerge (FusionBench election, zero mass → `majority`) accumulated into `out` (zeroed
 * here), with `count` (Uint16, ≥ n) as scratch for `mean`. Same arithmetic as disjointMerge.
 */
export function disjointMergeInto(out: Float32Array, trimmed: Float32Array[], mass: Float32Array, majority: number, func: MergeFunc, count?: Uint16Array): Float32Array {
  const n = out.length
  out.fill(0)
  const zeroPos = majority > 0
  if (func === 'sum') {
    for (const v of trimmed) for (let k = 0; k < n; k++) { const x = v[k], m = mass[k]; if (m > 0 || (!(m < 0) && zeroPos) ? x > 0 : x < 0) out[k] += x }
    return out
  }
  if (func === 'mean') {
    const cnt = count ? count.subarray(0, n).fill(0) : new Uint16Array(n)
    for (const v of trimmed) for (let k = 0; k < n; k++) { const x = v[k], m = mass[k]; if (m > 0 || (!(m < 0) && zeroPos) ? x > 0 : x < 0) { out[k] += x; cnt[k]++ } }
    for (let k = 0; k < n; k++) if (cnt[k] > 1) out[k] = out[k] / cnt[k]
    return out
  }
  out.set(disjointMerge(trimmed, mass, majority, func))
  return out
}

/** mergekit's election and merge (variant): s = +1 where Σ v̂ ≥ 0; zeros never agree; optional mean. */
export function mergekitDisjoint(trimmed: Float32Array[], func: MergeFunc): Float32Array {
  const n = trimmed[0].length
  const out = new Float32Array(n)
  for (let k = 0; k < n; k++) {
    let sum = 0
    for (const v of trimmed) sum += v[k]
    const s = sum >= 0 ? 1 : -1
    let acc = 0, cnt = 0, best = 0
    for (const v of trimmed) {
      const x = v[k]
      if (x !== 0 && Math.sign(x) === s) { acc += x; cnt++; if (Math.abs(x) > best) best = Math.abs(x) }
    }
    out[k] = func === 'sum' ? acc : func === 'mean' ? acc / (cnt || 1) : s * best
  }
  return out
}

/**
 * Exact top-k by magnitude within one vector (mergekit `magnitude`, P1 exact): keeps
 * k = int(keep·n) entries, ties at the k-th magnitude broken by index order. In place.
 */
export function exactTopKInPlace(v: Float32Array, keep: number, kth: (v: Float32Array, j: number) => number): number {
  const n = v.length
  const k = Math.trunc(keep * n)
  if (k <= 0) { v.fill(0); return 0 }
  if (k >= n) return n
  const q = kth(v, n - k + 1) // the k-th largest = (n − k + 1)-th smallest
  let above = 0
  for (let i = 0; i < n; i++) if (Math.abs(v[i]) > q) above++
  let tiesLeft = k - above
  for (let i = 0; i < n; i++) {
    const a = Math.abs(v[i])
    if (a > q) continue
    if (a === q && tiesLeft > 0) { tiesLeft--; continue }
    v[i] = 0
  }
  return k
}

/** What tiesMergeSplit leaves to its caller: coordinates it could not finish. */
export interface TiesSplit {
  /** Σ sgn(mass) over the finished coordinates */
  balance: number
  /** coordinates with some |x_t| in [lo_t, hi_t): their trim is unknown until the exact threshold is */
  deferred: ArrayLike<number>
  /** coordinates whose float mass is exactly 0 while some trimmed entry is not: they need the majority sign */
  zero: ArrayLike<number>
  /** with `gather`: deferred ∪ zero ascending, with θ0 and τ_t there (what finishing them needs) */
  held?: { idx: Uint32Array; base: Float32Array; vals: Float32Array[] }
  /** with `gather`: per task, every |x_t| inside [lo_t, hi_t) (each lies at a deferred coordinate) */
  band?: Float32Array[]
}

export interface TiesSplitOptions {
  /** `v` holds θ_t and τ_t = fround(θ_t − θ0) is formed in the loop (one pass fewer) */
  fromModels?: boolean
  threads?: number
  /** Float64Array(2N): [t] += the number of |x_t| < lo_t, [N + t] += the number of |x_t| ≥ hi_t, over every coordinate (NaN in neither) */
  counts?: Float64Array
  /** return `held` and `band` */
  gather?: boolean
}

/**
 * The whole FusionBench TIES merge of one tensor in one pass over its N task vectors, writing
 * θ0 + λ·merged straight into `out`. Per coordinate: trim, float32 mass in task order, elected
 * sign, float32 disjoint sum (or mean) in task order, then θ0 + fround(λ·m): the same values as
 * trimInPlace → massSum → disjointMerge → addScaled.
 *
 * The trim takes bounds instead of one threshold: |x_t| ≥ hi_t is kept, |x_t| < lo_t dropped.
 * With lo = hi = q it is the plain trim at q. With the bucket [lo, hi) of a first selection pass
 * (AbsBucketSelect) or a sampled band (SampledBandSelect) it merges every coordinate whose fate is
 * already sure and returns the others (`deferred`), so the exact threshold and the merge share one
 * read pass. Coordinates left to the caller (`deferred`, `zero`) are not counted in `kept`; their
 * `out` entries are unspecified. `counts` with the `band` values place each task's bounds in the
 * exact rank order (the sampled plan settles its thresholds from them); the addon gathers the
 * held values while their block is in cache, which at the ~2 % of coordinates a sampled band
 * defers is 10× cheaper than gathering them afterwards.
 *
 * The addon's C++ loop is used when loaded (bit-identical: float ops round like fround of the
 * double op); otherwise a JS loop generated per N and merge function.
 */
export function tiesMergeSplit(
  out: Float32Array, base: Float32Array, v: Float32Array[], lo: Float32Array, hi: Float32Array, lambda: number, func: 'sum' | 'mean',
  kept: Float64Array, opts: TiesSplitOptions = {},
): TiesSplit {
  const { fromModels = false, threads = kernelThreads(), counts, gather = false } = opts
  const addon = kernelAddon()
  if (addon) {
    const r = addon.tiesMerge(out, base, v, fromModels, lo, hi, lambda, func === 'mean', kept, threads, counts ?? null, gather)
    const h = r.held
    const M = h ? h.idx.length : 0
    return { ...r, held: h && { idx: h.idx, base: h.base, vals: v.map((_, t) => h.vals.subarray(t * M, (t + 1) * M)) } }
  }
  const deferred: number[] = [], zero: number[] = []
  const balance = tiesKernel(v.length, func, fromModels)(out, base, v, lo, hi, Math.fround(lambda), kept, counts ?? new Float64Array(2 * v.length), deferred, zero)
  if (!gather) return { balance, deferred, zero }
  const idx = mergeAscending(deferred, zero)
  const b = new Float32Array(idx.length)
  for (let i = 0; i < idx.length; i++) b[i] = base[idx[i]]
  const vals = v.map((x) => {
    const o = new Float32Array(idx.length)
    if (fromModels) for (let i = 0; i < idx.length; i++) o[i] = x[idx[i]] - b[i]
    else for (let i = 0; i < idx.length; i++) o[i] = x[idx[i]]
    return o
  })
  const band = vals.map((x, t) => Float32Array.from(x.filter((y) => Math.abs(y) >= lo[t] && Math.abs(y) < hi[t]), Math.abs))
  return { balance, deferred, zero, held: { idx, base: b, vals }, band }
}

/** Union of two ascending index lists, ascending. */
function mergeAscending(a: ArrayLike<number>, b: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(a.length + b.length)
  let i = 0, j = 0, k = 0
  while (i < a.length && j < b.length) out[k++] = a[i] < b[j] ? a[i++] : b[j++]
  while (i < a.length) out[k++] = a[i++]
  while (j < b.length) out[k++] = b[j++]
  return out
}

type TiesKernel = (
  out: Float32Array, base: Float32Array, v: Float32Array[], lo: Float32Array, hi: Float32Array, l: number, kept: Float64Array, counts: Float64Array,
  deferred: number[], zero: number[],
) => number
const tiesKernels = new Map<string, TiesKernel>()

function tiesKernel(N: number, func: 'sum' | 'mean', fromModels: boolean): TiesKernel {
  const key = `${N}:${func}:${fromModels}`
  let k = tiesKernels.get(key)
  if (k) return k
  const T = Array.from({ length: N }, (_, t) => t)
  const mean = func === 'mean'
  // branch-free selections (+(cond) multiplies by 0 or 1, exact for the non-NaN values the
  // thresholds pass admits; an infinite entry times 0 is caught by the NaN check below): trim and
  // sign agreement are data-dependent coin flips that a branch predictor loses every few
  // coordinates (2.5× faster than the branchy loop). The undecided test is one compare pair per
  // task that is false for every coordinate when lo = hi.
  const body = `
    const fr = Math.fround, abs = Math.abs;
    ${T.map((t) => `const v${t} = v[${t}], lo${t} = lo[${t}], hi${t} = hi[${t}]; let c${t} = 0, u${t} = 0, g${t} = 0;`).join('\n')}
    let bal = 0;
    const n = out.length;
    for (let k = 0; k < n; k++) {
      ${fromModels ? 'const b = base[k];' : ''}
      ${T.map((t) => `const x${t} = ${fromModels ? `fr(v${t}[k] - b)` : `v${t}[k]`}; const e${t} = abs(x${t}); u${t} += +(e${t} < lo${t}); g${t} += +(e${t} >= hi${t});`).join('\n')}
      if (${T.map((t) => `(e${t} >= lo${t} && e${t} < hi${t})`).join(' || ')}) { deferred.push(k); continue; }
      ${T.map((t) => `const w${t} = +(e${t} >= hi${t}); const y${t} = x${t} * w${t};`).join('\n')}
      let m = y0; ${T.slice(1).map((t) => `m = fr(m + y${t});`).join(' ')}
      if (m === 0 && (${T.map((t) => `y${t} !== 0`).join(' || ')})) { zero.push(k); continue; }
      ${T.map((t) => `c${t} += w${t};`).join(' ')}
      const neg = +(m < 0), sg = 1 - 2 * neg;
      bal += +(m > 0) - neg;
      let acc = 0;
      ${T.map((t) => `const a${t} = +(y${t} * sg > 0);`).join(' ')}
      ${T.map((t) => `acc = fr(acc + y${t} * a${t});`).join(' ')}
      if (acc !== acc) { acc = 0; ${T.map((t) => `if (a${t}) acc = fr(acc + y${t});`).join(' ')} } // ±∞·0 = NaN: redo with branches
      ${mean ? `const cnt = ${T.map((t) => `a${t}`).join(' + ')}; if (cnt > 1) acc = fr(acc / cnt);` : ''}
      out[k] = ${fromModels ? 'b' : 'base[k]'} + fr(l * acc);
    }
    ${T.map((t) => `kept[${t}] += c${t}; counts[${t}] += u${t}; counts[${N + t}] += g${t};`).join(' ')}
    return bal;`
  k = new Function('out', 'base', 'v', 'lo', 'hi', 'l', 'kept', 'counts', 'deferred', 'zero', body) as TiesKernel
  tiesKernels.set(key, k)
  return k
}
