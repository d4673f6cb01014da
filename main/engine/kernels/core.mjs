// Fused elementwise kernels over Float32Array ranges [start, end). Plain JavaScript on purpose:
// the same file runs on the main thread (imported by elementwise.ts) and inside worker_threads
// (worker.mjs), where no TypeScript loader is present under vitest or a packaged app.
// Every kernel takes (args, start, end) so a range can be handed to any thread.
// Per-element arithmetic is in float64 (JS numbers) and rounded to float32 once, on store.

const BLOCK = 4096 // float64 accumulator block: 32 KiB, stays in L1/L2 while inputs stream

// Loops over a variable number of input arrays are generated once per arity: a loop with the
// arrays bound to locals (a0[j] + a1[j] + …) does one load per input and element and runs
// 2–3× faster in V8 than an inner loop over an array of arrays or a blocked float64
// accumulator. Up to MAX_FUSED inputs are fused in one pass; more are summed in groups.
const MAX_FUSED = 12
const generated = new Map()

/** a loop `for j in [start, end): body` with arrays[i] bound to a0, a1, …; generated once per key and arity */
function fused(key, k, build) {
  const id = `${key}/${k}`
  let fn = generated.get(id)
  if (!fn) {
    const names = Array.from({ length: k }, (_, i) => `a${i}`)
    const bind = names.length ? `const ${names.map((n, i) => `${n} = arrays[${i}]`).join(', ')};` : ''
    fn = new Function('out', 'arrays', 'p', 'start', 'end', `${bind}\n${build.prelude ? build.prelude(names) : ''}\nfor (let j = start; j < end; j++) {\n${build.body(names)}\n}`)
    generated.set(id, fn)
  }
  return fn
}

const sumExpr = (names) => (names.length ? names.map((n) => `${n}[j]`).join(' + ') : '0')

/** out = base + λ·Σᵢ(modelsᵢ − base) */
export function taskArithmetic({ out, base, models, lambda }, start, end) {
  const n = models.length
  if (n <= MAX_FUSED) {
    fused('ta', n, {
      prelude: () => 'const base = p.base, lambda = p.lambda;',
      body: (names) => `const b = base[j]; out[j] = b + lambda * ((${sumExpr(names)}) - ${n} * b)`,
    })(out, models, { base, lambda }, start, end)
    return
  }
  // many models: Σ in float64 over groups, in blocks that stay in cache
  const acc = new Float64Array(BLOCK)
  for (let s = start; s < end; s += BLOCK) {
    const e = Math.min(end, s + BLOCK)
    sumGroupsInto(acc, models, s, e)
    for (let j = s; j < e; j++) { const b = base[j]; out[j] = b + lambda * (acc[j - s] - n * b) }
  }
}

/** acc[0 .. e−s) = Σᵢ arraysᵢ[s .. e) in float64, MAX_FUSED inputs per pass */
function sumGroupsInto(acc, arrays, s, e) {
  acc.fill(0, 0, e - s)
  for (let g = 0; g < arrays.length; g += MAX_FUSED) {
    const grp = arrays.slice(g, g + MAX_FUSED)
    fused('acc', grp.length, { body: (names) => `p[j - start] += ${sumExpr(names)}` })(null, grp, acc, s, e)
  }
}

/** out = Σᵢ weightsᵢ·arraysᵢ, plus the old out when accumulate is set */
export function weightedSum({ out, arrays, weights, accumulate }, start, end) {
  const n = arrays.length
  if (n <= MAX_FUSED) {
    fused(accumulate ? 'wsa' : 'ws', n, {
      prelude: (names) => names.map((_, i) => `const w${i} = p[${i}];`).join(' '),
      body: (names) => {
        const terms = names.map((a, i) => `w${i} * ${a}[j]`)
        if (accumulate) terms.unshift('out[j]')
        return `out[j] = ${terms.length ? terms.join(' + ') : '0'}`
      },
    })(out, arrays, Float64Array.from(weights), start, end)
    return
  }
  const acc = new Float64Array(BLOCK)
  for (let s = start; s < end; s += BLOCK) {
    const e = Math.min(end, s + BLOCK), len = e - s
    if (accumulate) for (let j = 0; j < len; j++) acc[j] = out[s + j]
    else acc.fill(0, 0, len)
    for (let i = 0; i < n; i++) {
      const a = arrays[i], w = weights[i]
      for (let j = 0; j < len; j++) acc[j] += w * a[s + j]
    }
    for (let j = 0; j < len; j++) out[s + j] = acc[j]
  }
}

/** out += a·x */
export function axpy({ out, a, x }, start, end) {
  for (let j = start; j < end; j++) out[j] += a * x[j]
}

/** out = x − y */
export function sub({ out, x, y }, start, end) {
  for (let j = start; j < end; j++) out[j] = x[j] - y[j]
}

/** out *= a */
export function scale({ out, a }, start, end) {
  for (let j = start; j < end; j++) out[j] *= a
}

/** out = min(max(x, lo), hi); NaN stays NaN */
export function clamp({ out, x, lo, hi }, start, end) {
  for (let j = start; j < end; j++) { const v = x[j]; out[j] = v < lo ? lo : v > hi ? hi : v }
}

/** out = |x| ≥ threshold ? x : 0 (ties at the threshold are kept; NaN is dropped) */
export function trimAbs({ out, x, threshold }, start, end) {
  for (let j = start; j < end; j++) { const v = x[j]; out[j] = Math.abs(v) >= threshold ? v : 0 }
}

/** out = Σᵢ (masksᵢ[j] ? arraysᵢ[j] : 0); masks are Uint8Array (0 = drop), scaled by weightsᵢ if given */
export function maskedSum({ out, arrays, masks, weights }, start, end) {
  const n = arrays.length
  const acc = new Float64Array(BLOCK)
  for (let s = start; s < end; s += BLOCK) {
    const e = Math.min(end, s + BLOCK), len = e - s
    acc.fill(0, 0, len)
    for (let i = 0; i < n; i++) {
      const a = arrays[i], m = masks[i], w = weights ? weights[i] : 1
      for (let j = 0; j < len; j++) if (m[s + j] !== 0) acc[j] += w * a[s + j]
    }
    for (let j = 0; j < len; j++) out[s + j] = acc[j]
  }
}

/** Sign election by total mass (TIES): out[j] = sign(Σᵢ arraysᵢ[j]) ∈ {−1, 0, +1}. */
export function signElect({ out, arrays }, start, end) {
  if (arrays.length <= MAX_FUSED) {
    fused('sign', arrays.length, { body: (names) => `const v = ${sumExpr(names)}; out[j] = v > 0 ? 1 : v < 0 ? -1 : 0` })(out, arrays, null, start, end)
    return
  }
  const acc = new Float64Array(BLOCK)
  for (let s = start; s < end; s += BLOCK) {
    const e = Math.min(end, s + BLOCK)
    sumGroupsInto(acc, arrays, s, e)
    for (let j = s; j < e; j++) { const v = acc[j - s]; out[j] = v > 0 ? 1 : v < 0 ? -1 : 0 }
  }
}

/**
 * Disjoint merge (TIES): over the entries whose sign agrees with `sign` (nonzero entries only),
 * out = their sum, or their mean when `mean` is set (0 where none agree).
 */
export function disjointMerge({ out, arrays, sign, mean }, start, end) {
  const n = arrays.length
  const acc = new Float64Array(BLOCK), cnt = new Float64Array(BLOCK)
  for (let s = start; s < end; s += BLOCK) {
    const e = Math.min(end, s + BLOCK), len = e - s
    acc.fill(0, 0, len); cnt.fill(0, 0, len)
    for (let i = 0; i < n; i++) {
      const a = arrays[i]
      for (let j = 0; j < len; j++) {
        const v = a[s + j], g = sign[s + j]
        if ((v > 0 && g > 0) || (v < 0 && g < 0)) { acc[j] += v; cnt[j]++ }
      }
    }
    if (mean) for (let j = 0; j < len; j++) out[s + j] = cnt[j] > 0 ? acc[j] / cnt[j] : 0
    else for (let j = 0; j < len; j++) out[s + j] = acc[j]
  }
}

export const KERNELS = { taskArithmetic, weightedSum, axpy, sub, scale, clamp, trimAbs, maskedSum, signElect, disjointMerge }
