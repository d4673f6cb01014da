// The TF.js CLIP vision forward against an independent float64 implementation written with plain
// loops straight from the HF CLIPVisionModel definition (NCHW conv, q·kᵀ/√d attention, quick_gelu).
import { describe, it, expect, beforeAll } from 'vitest'
import { getModelTf, tf } from '../../../main/engine/model/tf'
import { ClipVision, clipForward, prepareClip, readClipParams } from '../../../main/engine/model/clip-vision'
import { clipParamShapes, configFromHf, configToHf, type ClipVisionConfig } from '../../../main/engine/model/config'
import { MemorySource, numel, type MemTensor } from '../../../main/engine/tensors/source'
import { Rng } from '../../../main/engine/benchmark/rng'

function randomState(cfg: ClipVisionConfig, seed: number): Map<string, MemTensor> {
  const rng = new Rng(seed)
  const m = new Map<string, MemTensor>()
  for (const [name, shape] of clipParamShapes(cfg)) {
    const data = new Float32Array(numel(shape))
    const ln = /norm[12]?\.weight$|layrnorm\.weight$/.test(name)
    for (let i = 0; i < data.length; i++) data[i] = ln ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal()
    m.set(name, { shape, data })
  }
  return m
}

// ---- float64 reference, images NCHW as PyTorch holds them -------------------------------------
type Mat = number[][]
function refForward(cfg: ClipVisionConfig, sd: Map<string, MemTensor>, img: number[][][]): number[] {
  const g = (n: string) => sd.get(n)!.data
  const D = cfg.hiddenSize, P = cfg.patchSize, C = cfg.numChannels, G = cfg.imageSize / P, I = cfg.intermediateSize
  const lin = (x: Mat, w: Float32Array, b: Float32Array | null, out: number, inn: number): Mat =>
    x.map((row) => { const y: number[] = []; for (let o = 0; o < out; o++) { let s = b ? b[o] : 0; for (let i = 0; i < inn; i++) s += row[i] * w[o * inn + i]; y.push(s) } return y })
  const ln = (x: Mat, w: Float32Array, b: Float32Array): Mat => x.map((row) => {
    const mu = row.reduce((a, v) => a + v, 0) / row.length
    const va = row.reduce((a, v) => a + (v - mu) ** 2, 0) / row.length
    return row.map((v, i) => ((v - mu) / Math.sqrt(va + cfg.layerNormEps)) * w[i] + b[i])
  })
  const pw = g('vision_model.embeddings.patch_embedding.weight')
  const tokens: Mat = [Array.from(g('vision_model.embeddings.class_embedding'))]
  for (let gy = 0; gy < G; gy++) for (let gx = 0; gx < G; gx++) {
    const e: number[] = []
    for (let d = 0; d < D; d++) {
      let s = 0
      for (let c = 0; c < C; c++) for (let py = 0; py < P; py++) for (let px = 0; px < P; px++) s += pw[((d * C + c) * P + py) * P + px] * img[c][gy * P + py][gx * P + px]
      e.push(s)
    }
    tokens.push(e)
  }
  const pos = g('vision_model.embeddings.position_embedding.weight')
  let h = tokens.map((row, t) => row.map((v, d) => v + pos[t * D + d]))
  h = ln(h, g('vision_model.pre_layrnorm.weight'), g('vision_model.pre_layrnorm.bias'))
  const nh = cfg.numHeads, dh = D / nh, T = h.length
  for (let l = 0; l < cfg.numLayers; l++) {
    const L = `vision_model.encoder.layers.${l}`
    const a = ln(h, g(`${L}.layer_norm1.weight`), g(`${L}.layer_norm1.bias`))
    const q = lin(a, g(`${L}.self_attn.q_proj.weight`), g(`${L}.self_attn.q_proj.bias`), D, D).map((r) => r.map((v) => v * dh ** -0.5))
    const k = lin(a, g(`${L}.self_attn.k_proj.weight`), g(`${L}.self_attn.k_proj.bias`), D, D)
    const v = lin(a, g(`${L}.self_attn.v_proj.weight`), g(`${L}.self_attn.v_proj.bias`), D, D)
    const ctx: Mat = Array.from({ length: T }, () => new Array(D).fill(0))
    for (let hd = 0; hd < nh; hd++) for (let i = 0; i < T; i++) {
      const sc: number[] = []
      for (let j = 0; j < T; j++) { let s = 0; for (let e = 0; e < dh; e++) s += q[i][hd * dh + e] * k[j][hd * dh + e]; sc.push(s) }
      const mx = Math.max(...sc), ex = sc.map((s) => Math.exp(s - mx)), z = ex.reduce((x, y) => x + y, 0)
      for (let j = 0; j < T; j++) for (let e = 0; e < dh; e++) ctx[i][hd * dh + e] += (ex[j] / z) * v[j][hd * dh + e]
    }
    const o = lin(ctx, g(`${L}.self_attn.out_proj.weight`), g(`${L}.self_attn.out_proj.bias`), D, D)
    h = h.map((r, i) => r.map((x, d) => x + o[i][d]))
    const m = ln(h, g(`${L}.layer_norm2.weight`), g(`${L}.layer_norm2.bias`))
    const f = lin(m, g(`${L}.mlp.fc1.weight`), g(`${L}.mlp.fc1.bias`), I, D).map((r) => r.map((x) => x / (1 + Math.exp(-1.702 * x))))
    const f2 = lin(f, g(`${L}.mlp.fc2.weight`), g(`${L}.mlp.fc2.bias`), D, I)
    h = h.map((r, i) => r.map((x, d) => x + f2[i][d]))
  }
  let pooled = ln([h[0]], g('vision_model.post_layernorm.weight'), g('vision_model.post_layernorm.bias'))
  if (cfg.projectionDim) pooled = lin(pooled, g('visual_projection.weight'), null, cfg.projectionDim, D)
  return pooled[0]
}

function randomImages(cfg: ClipVisionConfig, B: number, seed: number): { nchw: number[][][][]; nhwc: Float32Array } {
  const rng = new Rng(seed), S = cfg.imageSize, C = cfg.numChannels
  const nchw = Array.from({ length: B }, () => Array.from({ length: C }, () => Array.from({ length: S }, () => Array.from({ length: S }, () => rng.normal()))))
  const nhwc = new Float32Array(B * S * S * C)
  for (let b = 0; b < B; b++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < C; c++) nhwc[((b * S + y) * S + x) * C + c] = nchw[b][c][y][x]
  return { nchw, nhwc }
}

const base: ClipVisionConfig = { imageSize: 8, patchSize: 4, numChannels: 1, hiddenSize: 12, intermediateSize: 20, numHeads: 2, numLayers: 2, layerNormEps: 1e-5, hiddenAct: 'quick_gelu' }

describe('CLIP vision forward', () => {
  beforeAll(async () => { await getModelTf() })

  for (const [label, cfg] of [
    ['1 channel, 8×8, patch 4', base],
    ['3 channels, 12×12, patch 4, 3 heads, projection', { ...base, imageSize: 12, numChannels: 3, numHeads: 3, projectionDim: 5 }],
  ] as Array<[string, ClipVisionConfig]>) {
    it(`matches a float64 loop implementation (${label})`, async () => {
      const sd = randomState(cfg, 7)
      const B = 3, S = cfg.imageSize
      const { nchw, nhwc } = randomImages(cfg, B, 11)
      const m = await ClipVision.load(cfg, new MemorySource(sd, 'random'))
      const out = m.embed(tf.tensor4d(nhwc, [B, S, S, cfg.numChannels]))
      const got = await out.data()
      const dim = cfg.projectionDim ?? cfg.hiddenSize
      expect(out.shape).toEqual([B, dim])
      for (let b = 0; b < B; b++) {
        const want = refForward(cfg, sd, nchw[b])
        for (let d = 0; d < dim; d++) expect(Math.abs(got[b * dim + d] - want[d])).toBeLessThan(1e-4)
      }
      out.dispose(); m.dispose()
    })
  }

  it('gives gradients through the custom matmuls that agree with finite differences', async () => {
    const cfg = base
    const sd = randomState(cfg, 3)
    const p = await readClipParams(cfg, sd)
    const x = tf.tensor4d(randomImages(cfg, 2, 5).nhwc, [2, 8, 8, 1])
    const name = 'vision_model.encoder.layers.1.mlp.fc1.weight'
    const f = (w: typeof p[string]) => tf.sum(tf.square(clipForward(cfg, prepareClip(cfg, { ...p, [name]: w }), x).pooled)) as ReturnType<typeof tf.scalar>
    const g = await tf.grad(f)(p[name]).data()
    const w0 = await p[name].data(), eps = 1e-2
    for (const i of [0, 7, 33, 101]) {
      const up = Float32Array.from(w0); up[i] += eps
      const dn = Float32Array.from(w0); dn[i] -= eps
      const fd = ((await f(tf.tensor(up, p[name].shape)).data())[0] - (await f(tf.tensor(dn, p[name].shape)).data())[0]) / (2 * eps)
      expect(Math.abs(fd - g[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)))
    }
  })

  it('rejects a missing or misshapen tensor, naming it', async () => {
    const sd = randomState(base, 1)
    sd.delete('vision_model.encoder.layers.1.mlp.fc2.bias')
    await expect(ClipVision.load(base, sd, 'broken')).rejects.toThrow(/broken: missing tensor vision_model\.encoder\.layers\.1\.mlp\.fc2\.bias/)
    const sd2 = randomState(base, 1)
    sd2.set('vision_model.encoder.layers.0.mlp.fc1.weight', { shape: [12, 20], data: new Float32Array(240) })
    await expect(ClipVision.load(base, sd2, 'swapped')).rejects.toThrow(/fc1\.weight has shape \[12,20\] but the config needs \[20,12\]/)
  })

  it('round-trips its HF config and reads CLIPConfig.vision_config', () => {
    const hf = configToHf({ ...base, projectionDim: 5 })
    expect(hf.model_type).toBe('clip_vision_model')
    expect(configFromHf(hf)).toEqual(base)
    expect(configFromHf(hf, 'c', { withProjection: true })).toEqual({ ...base, projectionDim: 5 })
    expect(configFromHf({ vision_config: hf }).hiddenSize).toBe(12)
    expect(() => configFromHf({ ...hf, hidden_act: 'relu' }, 'x/config.json')).toThrow(/x\/config.json: hidden_act "relu"/)
  })
})
