// CLIP vision tower forward pass in TF.js, from a state dict in Hugging Face CLIPVisionModel
// layout. One code path for every size (the mini-8 models and real ViT-B/32, L/14): everything is
// read from the config. The forward is a pure function of tensors so it also runs inside
// tf.grad / optimizer.minimize (training, AdaMerging).
//
// Layout choices (for speed on wasm, engine-facts.md): images are NHWC; linear weights are
// transposed once to [in, out] ("prepared") so no matmul needs transpose flags; all transposes
// are rank ≤ 4 (the patch embedding is an im2col by reshape + rank-4 transpose).
import type * as tfjs from '@tensorflow/tfjs'
import { AmalgamError } from '#common/errors'
import { numel, type TensorSource, type MemTensor } from '../tensors/source'
import { tf, getModelTf } from './tf'
import { matmul } from './ops'
import { encoderBlock, layerNorm, readEncoderLayer, type EncoderLayer } from './encoder'
import { type ClipVisionConfig, clipParamShapes, numTokens, VM, validateConfig } from './config'

/** Parameters by HF name (vision_model.… and optionally visual_projection.weight). */
export type ClipParams = Record<string, tfjs.Tensor>

/** Weights rearranged for the forward: linear weights [in, out], patch weight [p·p·C, D]. */
export interface PreparedClip {
  cls: tfjs.Tensor1D; patch: tfjs.Tensor2D; pos: tfjs.Tensor2D
  preg: tfjs.Tensor1D; preb: tfjs.Tensor1D; postg: tfjs.Tensor1D; postb: tfjs.Tensor1D
  layers: EncoderLayer[]
  proj?: tfjs.Tensor2D
}

/** Called with the input of every linear unit (rows = tokens), for activation statistics. */
export type LinearInputHook = (unit: string, x: tfjs.Tensor2D) => void
/**
 * Called with the input of every LayerNorm (rows = tokens; post_layernorm: the CLS rows only),
 * before normalisation, for the normalised-input statistics of CAT and LOT (methods.md §0.4).
 */
export type NormInputHook = (unit: string, x: tfjs.Tensor2D) => void

function need(p: ClipParams, name: string): tfjs.Tensor {
  const t = p[name]
  if (!t) throw new AmalgamError('BAD_FILE', `CLIP vision state dict: missing tensor ${name}`)
  return t
}

/** Differentiable rearrangement of HF-layout parameters into the forward's layout. */
export function prepareClip(cfg: ClipVisionConfig, p: ClipParams): PreparedClip {
  const T = (name: string) => tf.transpose(need(p, name)) as tfjs.Tensor2D
  const V = (name: string) => need(p, name) as tfjs.Tensor1D
  const C = cfg.numChannels, P = cfg.patchSize, D = cfg.hiddenSize
  const layers: EncoderLayer[] = []
  for (let l = 0; l < cfg.numLayers; l++) layers.push(readEncoderLayer(`${VM}.encoder.layers.${l}`, T, V))
  // Conv2d weight [D, C, p, p] → [p, p, C, D] → [p·p·C, D]: rows ordered (py, px, c), the order
  // the im2col in patchEmbed produces from NHWC pixels.
  const patch = tf.reshape(tf.transpose(need(p, `${VM}.embeddings.patch_embedding.weight`), [2, 3, 1, 0]), [P * P * C, D]) as tfjs.Tensor2D
  const out: PreparedClip = {
    cls: V(`${VM}.embeddings.class_embedding`), patch,
    pos: need(p, `${VM}.embeddings.position_embedding.weight`) as tfjs.Tensor2D,
    preg: V(`${VM}.pre_layrnorm.weight`), preb: V(`${VM}.pre_layrnorm.bias`),
    postg: V(`${VM}.post_layernorm.weight`), postb: V(`${VM}.post_layernorm.bias`),
    layers,
  }
  if (cfg.projectionDim) out.proj = T('visual_projection.weight')
  return out
}

/** NHWC images [B, H, W, C] → patch tokens [B·n_patches, D] (the stride-p conv as im2col + matmul). */
function patchEmbed(cfg: ClipVisionConfig, w: PreparedClip, x: tfjs.Tensor4D): tfjs.Tensor2D {
  const [B, H, W, C] = x.shape
  const P = cfg.patchSize, gh = H / P, gw = W / P
  const rows = tf.reshape(x, [B * gh, P, gw, P * C])
  const cols = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [B * gh * gw, P * P * C]) as tfjs.Tensor2D
  return matmul(cols, w.patch)
}

export interface ForwardOptions {
  onLinearInput?: LinearInputHook
  onNormInput?: NormInputHook
  /** also return the last hidden state [B, n_tok, D] */
  hidden?: boolean
}
export interface ForwardOutput { pooled: tfjs.Tensor2D; embeds: tfjs.Tensor2D; hidden?: tfjs.Tensor3D }

/**
 * The vision tower on NHWC images already normalised as the model expects. Returns pooled =
 * post_layernorm(CLS) [B, D] and embeds = pooled · projectionᵀ when the model has a projection
 * (otherwise the same tensor as pooled).
 */
export function clipForward(cfg: ClipVisionConfig, w: PreparedClip, images: tfjs.Tensor4D, opt: ForwardOptions = {}): ForwardOutput {
  const [B, H, W, C] = images.shape
  if (H !== cfg.imageSize || W !== cfg.imageSize || C !== cfg.numChannels) {
    throw new AmalgamError('BAD_REQUEST', `CLIP vision: images are ${H}×${W}×${C} but the model expects ${cfg.imageSize}×${cfg.imageSize}×${cfg.numChannels}`)
  }
  const D = cfg.hiddenSize, T = numTokens(cfg), nh = cfg.numHeads, eps = cfg.layerNormEps
  const hook = opt.onLinearInput
  const normHook = opt.onNormInput
  const patches = tf.reshape(patchEmbed(cfg, w, images), [B, T - 1, D])
  const cls = tf.broadcastTo(tf.reshape(w.cls, [1, 1, D]), [B, 1, D])
  let h = tf.reshape(tf.add(tf.concat([cls, patches], 1), w.pos), [B * T, D]) as tfjs.Tensor2D
  if (normHook) normHook(`${VM}.pre_layrnorm`, h)
  h = layerNorm(h, w.preg, w.preb, eps) as tfjs.Tensor2D
  for (let l = 0; l < w.layers.length; l++) {
    h = encoderBlock(h, w.layers[l], { batch: B, tokens: T, heads: nh, eps, act: cfg.hiddenAct, name: `${VM}.encoder.layers.${l}`, onLinearInput: hook, onNormInput: normHook })
  }
  const h3 = tf.reshape(h, [B, T, D]) as tfjs.Tensor3D
  const clsOut = tf.reshape(tf.slice(h3, [0, 0, 0], [B, 1, D]), [B, D]) as tfjs.Tensor2D
  if (normHook) normHook(`${VM}.post_layernorm`, clsOut)
  const pooled = layerNorm(clsOut, w.postg, w.postb, eps) as tfjs.Tensor2D
  const embeds = w.proj ? matmul(pooled, w.proj) : pooled
  return opt.hidden ? { pooled, embeds, hidden: h3 } : { pooled, embeds }
}

/** A state dict given as a TensorSource or a name → {shape, data} map. */
export type StateDict = TensorSource | Map<string, MemTensor>

function isSource(s: StateDict): s is TensorSource {
  return typeof (s as TensorSource).readF32 === 'function'
}

/** Reads and validates every parameter the config needs; extra tensors (position_ids …) are ignored. */
export async function readClipParams(cfg: ClipVisionConfig, sd: StateDict, label?: string): Promise<ClipParams> {
  validateConfig(cfg, label ?? 'config')
  await getModelTf()
  const where = label ?? (isSource(sd) ? sd.label : 'state dict')
  const out: ClipParams = {}
  try {
    for (const [name, shape] of clipParamShapes(cfg)) {
      let data: Float32Array, got: number[]
      if (isSource(sd)) {
        if (!sd.has(name)) throw new AmalgamError('BAD_FILE', `${where}: missing tensor ${name}`)
        got = sd.meta(name).shape
        if (!sameShape(got, shape)) throw new AmalgamError('BAD_FILE', `${where}: tensor ${name} has shape [${got}] but the config needs [${shape}]`)
        data = await sd.readF32(name)
      } else {
        const t = sd.get(name)
        if (!t) throw new AmalgamError('BAD_FILE', `${where}: missing tensor ${name}`)
        got = t.shape
        if (!sameShape(got, shape)) throw new AmalgamError('BAD_FILE', `${where}: tensor ${name} has shape [${got}] but the config needs [${shape}]`)
        data = t.data
      }
      if (data.length !== numel(shape)) throw new AmalgamError('BAD_FILE', `${where}: tensor ${name} has ${data.length} values, expected ${numel(shape)}`)
      out[name] = tf.tensor(data, shape, 'float32')
    }
  } catch (e) {
    for (const t of Object.values(out)) t.dispose()
    throw e
  }
  return out
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i])

/** An inference-ready CLIP vision tower. Call dispose() when done (it owns TF.js memory). */
export class ClipVision {
  readonly cfg: ClipVisionConfig
  private readonly params: ClipParams
  private readonly prepared: PreparedClip

  private constructor(cfg: ClipVisionConfig, params: ClipParams) {
    this.cfg = cfg
    this.params = params
    // a scope frees the intermediate of the patch-weight rearrangement and keeps the results
    tf.engine().startScope()
    const w = prepareClip(cfg, params)
    tf.engine().endScope([w.patch, ...w.layers.flatMap((L) => [L.q, L.k, L.v, L.o, L.fc1, L.fc2]), ...(w.proj ? [w.proj] : [])])
    this.prepared = w
  }

  static async load(cfg: ClipVisionConfig, sd: StateDict, label?: string): Promise<ClipVision> {
    return new ClipVision(cfg, await readClipParams(cfg, sd, label))
  }

  /** Wraps parameters the caller already holds as tensors (they become owned by this object). */
  static fromParams(cfg: ClipVisionConfig, params: ClipParams): ClipVision { return new ClipVision(cfg, params) }

  /** Image embeddings [B, D or projection_dim] for NHWC, model-normalised images. */
  embed(images: tfjs.Tensor4D): tfjs.Tensor2D {
    return tf.tidy(() => clipForward(this.cfg, this.prepared, images).embeds)
  }

  forward(images: tfjs.Tensor4D, opt: ForwardOptions = {}): ForwardOutput {
    return clipForward(this.cfg, this.prepared, images, opt)
  }

  dispose(): void {
    const p = this.prepared
    const owned = new Set<tfjs.Tensor>([...Object.values(this.params), p.patch, ...p.layers.flatMap((L) => [L.q, L.k, L.v, L.o, L.fc1, L.fc2]), ...(p.proj ? [p.proj] : [])])
    for (const t of owned) t.dispose()
  }
}
