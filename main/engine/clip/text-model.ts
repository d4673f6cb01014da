// CLIP text tower forward in TF.js (HF CLIPTextModel + CLIPModel.text_projection): token +
// position embeddings, pre-LN transformer blocks with a causal mask, final LayerNorm, the hidden
// state at the eos position, then the bias-free projection. Used only for inference (zero-shot
// heads), so it is written for clarity over differentiability.
import type * as tfjs from '@tensorflow/tfjs'
import { AmalgamError } from '#common/errors'
import { numel, type TensorSource } from '../tensors/source'
import { tf, getModelTf } from '../model/tf'
import { matmul } from '../model/ops'
import { encoderBlock, layerNorm, readEncoderLayer, type EncoderLayer } from '../model/encoder'
import { type ClipTextConfig, TM, eosPositions, textParamShapes } from './text-config'

/** An inference-ready CLIP text tower with its projection. Owns TF.js memory: call dispose(). */
export class ClipText {
  readonly cfg: ClipTextConfig
  private readonly owned: tfjs.Tensor[] = []
  private readonly tok: tfjs.Tensor2D
  private readonly pos: tfjs.Tensor2D
  private readonly layers: EncoderLayer[] = []
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
    for (let l = 0; l < cfg.numLayers; l++) this.layers.push(readEncoderLayer(`${TM}.encoder.layers.${l}`, T, V))
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
    const cfg = this.cfg, D = cfg.hiddenSize, nh = cfg.numHeads, eps = cfg.layerNormEps
    const emb = tf.gather(this.tok, tf.tensor1d(ids, 'int32'))
    let h = tf.reshape(tf.add(tf.reshape(emb, [n, T, D]), tf.slice(this.pos, [0, 0], [T, D])), [n * T, D]) as tfjs.Tensor2D
    // additive causal mask: position t attends to positions ≤ t
    const maskData = new Float32Array(T * T)
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskData[i * T + j] = -1e9
    const mask = tf.tensor3d(maskData, [1, T, T])
    for (const L of this.layers) h = encoderBlock(h, L, { batch: n, tokens: T, heads: nh, eps, act: cfg.hiddenAct, mask })
    const rows = Int32Array.from(pooledAt, (p, r) => r * T + p)
    const pooled = layerNorm(tf.gather(h, tf.tensor1d(rows, 'int32')), this.lnfg, this.lnfb, eps) as tfjs.Tensor2D
    return matmul(pooled, this.proj)
  }

  dispose(): void { for (const t of this.owned) t.dispose() }
}
