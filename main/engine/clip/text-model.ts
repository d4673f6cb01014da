// CLIP text tower forward in TF.js (HF CLIPTextModel + CLIPModel.text_projection): token +
// position embeddings, pre-LN transformer blocks with a causal mask, final LayerNorm, the hidden
// state at the eos position, then the bias-free projection. Used only for inference (zero-shot
// heads), so it is written for clarity over differentiability.
import type * as tfjs from '@tensorflow/tfjs'
import { AmalgamError } from '#common/errors'
import { numel, type TensorSource } from '../tensors/source'
import { tf, getModelTf } from '../model/tf'
import { matmul, bmatmul } from '../model/ops'
import { type ClipTextConfig, TM, eosPositions, textParamShapes } from './text-config'

interface TextLayer {
  ln1g: tfjs.Tensor1D; ln1b: tfjs.Tensor1D; ln2g: tfjs.Tensor1D; ln2b: tfjs.Tensor1D
  q: tfjs.Tensor2D; qb: tfjs.Tensor1D; k: tfjs.Tensor2D; kb: tfjs.Tensor1D
  v: tfjs.Tensor2D; vb: tfjs.Tensor1D; o: tfjs.Tensor2D; ob: tfjs.Tensor1D
  fc1: tfjs.Tensor2D; fc1b: tfjs.Tensor1D; fc2: tfjs.Tensor2D; fc2b: tfjs.Tensor1D
}

function layerNorm(x: tfjs.Tensor, g: tfjs.Tensor1D, b: tfjs.Tensor1D, eps: number): tfjs.Tensor {
  const { mean, variance } = tf.moments(x, -1, true)
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b)
}

function activation(x: tfjs.Tensor, act: ClipTextConfig['hiddenAct']): tfjs.Tensor {
  if (act === 'quick_gelu') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)))
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1))
}

/** An inference-ready CLIP text tower with its projection. Owns TF.js memory: call dispose(). */
export class ClipText {
  readonly cfg: ClipTextConfig
  private readonly owned: tfjs.Tensor[] = []
  private readonly tok: tfjs.Tensor2D
  private readonly pos: tfjs.Tensor2D
  private readonly layers: TextLayer[] = []
  private readonly lnfg: tfjs.Tensor1D
  private readonly lnfb: tfjs.Tensor1D
  private readonly proj: tfjs.Tensor2D

  private constructor(cfg: ClipTextConfig, p: Map<string, tfjs.Tensor>) {
    this.cfg = cfg
    const keep = <T extends tfjs.Tensor>(t: T): T => { this.owned.push(t); return t }
    const V = (n: string) => keep(p.get(n)! as tfjs.Tensor1D)
    // weights [out, in] → [in, out] once, so every matmul runs without transpose flags
    const T = (n: string) => { const w = p.get(n)!; const t = keep(tf.transpose(w) as tfjs.Tensor2D); w.dispose(); return t }
    this.tok = keep(p.get(`${TM}.embeddings.token_embedding.weight`)! as tfjs.Tensor2D)
    this.pos = keep(p.get(`${TM}.embeddings.position_embedding.weight`)! as tfjs.Tensor2D)
    for (let l = 0; l < cfg.numLayers; l++) {
      const L = `${TM}.encoder.layers.${l}`
      this.layers.push({
        ln1g: V(`${L}.layer_norm1.weight`), ln1b: V(`${L}.layer_norm1.bias`),
        ln2g: V(`${L}.layer_norm2.weight`), ln2b: V(`${L}.layer_norm2.bias`),
        q: T(`${L}.self_attn.q_proj.weight`), qb: V(`${L}.self_attn.q_proj.bias`),
        k: T(`${L}.self_attn.k_proj.weight`), kb: V(`${L}.self_attn.k_proj.bias`),
        v: T(`${L}.self_attn.v_proj.weight`), vb: V(`${L}.self_attn.v_proj.bias`),
        o: T(`${L}.self_attn.out_proj.weight`), ob: V(`${L}.self_attn.out_proj.bias`),
        fc1: T(`${L}.mlp.fc1.weight`), fc1b: V(`${L}.mlp.fc1.bias`),
        fc2: T(`${L}.mlp.fc2.weight`), fc2b: V(`${L}.mlp.fc2.bias`),
      })
    }
    this.lnfg = V(`${TM}.final_layer_norm.weight`)
    this.lnfb = V(`${TM}.final_layer_norm.bias`)
    this.proj = T('text_projection.weight')
  }

  /** Reads text_model.* and text_projection.weight from a full CLIPModel source, checking shapes. */
  static async load(cfg: ClipTextConfig, src: TensorSource): Promise<ClipText> {
    await getModelTf()
    const p = new Map<string, tfjs.Tensor>()
    try {
      for (const [name, shape] of textParamShapes(cfg)) {
        if (!src.has(name)) throw new AmalgamError('BAD_FILE', `${src.label}: missing tensor ${name} (a CLIP base must hold the text tower)`)
        const got = src.meta(name).shape
        if (got.length !== shape.length || got.some((v, i) => v !== shape[i])) throw new AmalgamError('BAD_FILE', `${src.label}: tensor ${name} has shape [${got}] but the config needs [${shape}]`)
        const data = await src.readF32(name)
        if (data.length !== numel(shape)) throw new AmalgamError('BAD_FILE', `${src.label}: tensor ${name} has ${data.length} values, expected ${numel(shape)}`)
        p.set(name, tf.tensor(data, shape, 'float32'))
      }
    } catch (e) {
      for (const t of p.values()) t.dispose()
      throw e
    }
    return new ClipText(cfg, p)
  }

  /**
   * Projected text embeddings [n, projectionDim] for a row-major [n, T] id matrix (T ≤ max
   * positions). Columns after the last pooled position are dropped first: under the causal mask
   * they cannot change any pooled state, and prompts are far shorter than 77 tokens.
   */
  encode(ids: Int32Array, n: number, T: number): tfjs.Tensor2D {
    if (ids.length !== n * T) throw new AmalgamError('BAD_REQUEST', `CLIP text: ${ids.length} ids for ${n}×${T}`)
    if (T > this.cfg.maxPositions) throw new AmalgamError('BAD_REQUEST', `CLIP text: sequence length ${T} exceeds max_position_embeddings ${this.cfg.maxPositions}`)
    for (let i = 0; i < ids.length; i++) if (ids[i] < 0 || ids[i] >= this.cfg.vocabSize) throw new AmalgamError('BAD_REQUEST', `CLIP text: token id ${ids[i]} is outside the vocabulary (size ${this.cfg.vocabSize})`)
    const pos = eosPositions(ids, n, T, this.cfg.eosTokenId)
    const Tk = Math.max(...pos) + 1
    const cut = new Int32Array(n * Tk)
    for (let r = 0; r < n; r++) cut.set(ids.subarray(r * T, r * T + Tk), r * Tk)
    return tf.tidy(() => this.forward(cut, n, Tk, pos))
  }

  private forward(ids: Int32Array, n: number, T: number, pooledAt: Int32Array): tfjs.Tensor2D {
    const cfg = this.cfg, D = cfg.hiddenSize, nh = cfg.numHeads, dh = D / nh, eps = cfg.layerNormEps
    const emb = tf.gather(this.tok, tf.tensor1d(ids, 'int32'))
    let h = tf.reshape(tf.add(tf.reshape(emb, [n, T, D]), tf.slice(this.pos, [0, 0], [T, D])), [n * T, D]) as tfjs.Tensor2D
    // additive causal mask: position t attends to positions ≤ t
    const maskData = new Float32Array(T * T)
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskData[i * T + j] = -1e9
    const mask = tf.tensor3d(maskData, [1, T, T])
    const lin = (x: tfjs.Tensor2D, w: tfjs.Tensor2D, b: tfjs.Tensor1D) => tf.add(matmul(x, w), b) as tfjs.Tensor2D
    const scale = 1 / Math.sqrt(dh)
    for (const L of this.layers) {
      const a = layerNorm(h, L.ln1g, L.ln1b, eps) as tfjs.Tensor2D
      const split = (t: tfjs.Tensor, perm: number[], shape: [number, number, number]) => tf.reshape(tf.transpose(tf.reshape(t, [n, T, nh, dh]), perm), shape) as tfjs.Tensor3D
      const q = split(tf.mul(lin(a, L.q, L.qb), scale), [0, 2, 1, 3], [n * nh, T, dh])
      const kT = split(lin(a, L.k, L.kb), [0, 2, 3, 1], [n * nh, dh, T])
      const v = split(lin(a, L.v, L.vb), [0, 2, 1, 3], [n * nh, T, dh])
      const probs = tf.softmax(tf.add(bmatmul(q, kT), mask)) as tfjs.Tensor3D
      const ctx = tf.reshape(tf.transpose(tf.reshape(bmatmul(probs, v), [n, nh, T, dh]), [0, 2, 1, 3]), [n * T, D]) as tfjs.Tensor2D
      h = tf.add(h, lin(ctx, L.o, L.ob)) as tfjs.Tensor2D
      const m = layerNorm(h, L.ln2g, L.ln2b, eps) as tfjs.Tensor2D
      h = tf.add(h, lin(activation(lin(m, L.fc1, L.fc1b), cfg.hiddenAct) as tfjs.Tensor2D, L.fc2, L.fc2b)) as tfjs.Tensor2D
    }
    const rows = Int32Array.from(pooledAt, (p, r) => r * T + p)
    const pooled = layerNorm(tf.gather(h, tf.tensor1d(rows, 'int32')), this.lnfg, this.lnfb, eps) as tfjs.Tensor2D
    return matmul(pooled, this.proj)
  }

  dispose(): void { for (const t of this.owned) t.dispose() }
}
