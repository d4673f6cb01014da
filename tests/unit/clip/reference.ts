// Independent float64 plain-loop CLIP forward passes (vision and text) for checking the TF.js
// implementations. Deliberately naive: explicit loops over tokens, heads and features.
type W = (name: string) => Float64Array

export interface RefCfg { D: number; I: number; heads: number; layers: number; eps: number; act: 'quick_gelu' | 'gelu' }

function ln(x: Float64Array, g: Float64Array, b: Float64Array, eps: number): Float64Array {
  const n = x.length
  let m = 0; for (let i = 0; i < n; i++) m += x[i]; m /= n
  let v = 0; for (let i = 0; i < n; i++) v += (x[i] - m) ** 2; v /= n
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) out[i] = ((x[i] - m) / Math.sqrt(v + eps)) * g[i] + b[i]
  return out
}

// y[o] = Σ_i W[o, i] x[i] + b[o] with W stored [out, in] (PyTorch convention)
function linear(x: Float64Array, w: Float64Array, b: Float64Array | null, out: number): Float64Array {
  const inp = x.length, y = new Float64Array(out)
  for (let o = 0; o < out; o++) { let s = b ? b[o] : 0; for (let i = 0; i < inp; i++) s += w[o * inp + i] * x[i]; y[o] = s }
  return y
}

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is not accurate enough; use a series/continued-fraction pair.
  const t = Math.abs(x)
  if (t < 3) { let sum = t, term = t; for (let n = 1; n < 60; n++) { term *= -t * t / n; sum += term / (2 * n + 1) } return Math.sign(x) * 2 / Math.sqrt(Math.PI) * sum }
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * (1 - 1 / (2 * t * t)))
}
const act = (x: number, a: RefCfg['act']): number => (a === 'quick_gelu' ? x / (1 + Math.exp(-1.702 * x)) : 0.5 * x * (1 + erf(x / Math.SQRT2)))

/** Transformer encoder over tokens h[t] (pre-LN blocks), optionally causal. */
function encoder(h: Float64Array[], w: W, prefix: string, c: RefCfg, causal: boolean): Float64Array[] {
  const T = h.length, dh = c.D / c.heads
  for (let l = 0; l < c.layers; l++) {
    const L = `${prefix}.encoder.layers.${l}`
    const a = h.map((x) => ln(x, w(`${L}.layer_norm1.weight`), w(`${L}.layer_norm1.bias`), c.eps))
    const q = a.map((x) => linear(x, w(`${L}.self_attn.q_proj.weight`), w(`${L}.self_attn.q_proj.bias`), c.D))
    const k = a.map((x) => linear(x, w(`${L}.self_attn.k_proj.weight`), w(`${L}.self_attn.k_proj.bias`), c.D))
    const v = a.map((x) => linear(x, w(`${L}.self_attn.v_proj.weight`), w(`${L}.self_attn.v_proj.bias`), c.D))
    const ctx = h.map(() => new Float64Array(c.D))
    for (let hd = 0; hd < c.heads; hd++) {
      for (let i = 0; i < T; i++) {
        const s: number[] = []
        for (let j = 0; j < T; j++) {
          if (causal && j > i) { s.push(-Infinity); continue }
          let d = 0; for (let e = 0; e < dh; e++) d += q[i][hd * dh + e] * k[j][hd * dh + e]
          s.push(d / Math.sqrt(dh))
        }
        const mx = Math.max(...s); const ex = s.map((z) => Math.exp(z - mx)); const z = ex.reduce((p, q2) => p + q2, 0)
        for (let j = 0; j < T; j++) for (let e = 0; e < dh; e++) ctx[i][hd * dh + e] += (ex[j] / z) * v[j][hd * dh + e]
      }
    }
    h = h.map((x, i) => { const o = linear(ctx[i], w(`${L}.self_attn.out_proj.weight`), w(`${L}.self_attn.out_proj.bias`), c.D); return x.map((y, d) => y + o[d]) })
    h = h.map((x) => {
      const m = ln(x, w(`${L}.layer_norm2.weight`), w(`${L}.layer_norm2.bias`), c.eps)
      const f = linear(m, w(`${L}.mlp.fc1.weight`), w(`${L}.mlp.fc1.bias`), c.I).map((y) => act(y, c.act))
      const o = linear(f, w(`${L}.mlp.fc2.weight`), w(`${L}.mlp.fc2.bias`), c.D)
      return x.map((y, d) => y + o[d])
    })
  }
  return h
}

/** Text: ids of one sequence → projected embedding (pooled at `pooledAt`). */
export function refText(ids: number[], pooledAt: number, w: W, c: RefCfg, projDim: number): Float64Array {
  const tok = w('text_model.embeddings.token_embedding.weight'), pos = w('text_model.embeddings.position_embedding.weight')
  const h = ids.map((id, t) => { const x = new Float64Array(c.D); for (let d = 0; d < c.D; d++) x[d] = tok[id * c.D + d] + pos[t * c.D + d]; return x })
  const out = encoder(h, w, 'text_model', c, true)
  const pooled = ln(out[pooledAt], w('text_model.final_layer_norm.weight'), w('text_model.final_layer_norm.bias'), c.eps)
  return linear(pooled, w('text_projection.weight'), null, projDim)
}

/** Vision: one CHW image [C][H][W] → projected embedding. */
export function refVision(img: Float64Array, C: number, S: number, P: number, w: W, c: RefCfg, projDim: number): Float64Array {
  const g = S / P, conv = w('vision_model.embeddings.patch_embedding.weight'), pos = w('vision_model.embeddings.position_embedding.weight')
  const h: Float64Array[] = [Float64Array.from(w('vision_model.embeddings.class_embedding'))]
  for (let py = 0; py < g; py++) for (let px = 0; px < g; px++) {
    const x = new Float64Array(c.D)
    for (let d = 0; d < c.D; d++) {
      let s = 0
      for (let ch = 0; ch < C; ch++) for (let ky = 0; ky < P; ky++) for (let kx = 0; kx < P; kx++) s += conv[((d * C + ch) * P + ky) * P + kx] * img[(ch * S + py * P + ky) * S + px * P + kx]
      x[d] = s
    }
    h.push(x)
  }
  const hp = h.map((x, t) => ln(x.map((y, d) => y + pos[t * c.D + d]), w('vision_model.pre_layrnorm.weight'), w('vision_model.pre_layrnorm.bias'), c.eps))
  const out = encoder(hp, w, 'vision_model', c, false)
  const pooled = ln(out[0], w('vision_model.post_layernorm.weight'), w('vision_model.post_layernorm.bias'), c.eps)
  return linear(pooled, w('visual_projection.weight'), null, projDim)
}
