// The CLIP vision configuration, read from a Hugging Face config.json (CLIPVisionConfig, or a
// CLIPConfig whose vision_config holds it), and the parameter names/shapes it implies.
import { AmalgamError } from '#common/errors'

export type HiddenAct = 'quick_gelu' | 'gelu'

export interface ClipVisionConfig {
  imageSize: number
  patchSize: number
  numChannels: number
  hiddenSize: number
  intermediateSize: number
  numHeads: number
  numLayers: number
  layerNormEps: number
  hiddenAct: HiddenAct
  /** present when the state dict carries `visual_projection.weight` [projectionDim, hiddenSize] */
  projectionDim?: number
}

export const VM = 'vision_model'

const num = (j: Record<string, unknown>, key: string, where: string, fallback?: number): number => {
  const v = j[key]
  if (v === undefined && fallback !== undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new AmalgamError('BAD_FILE', `${where}: field ${key} must be a positive number (got ${JSON.stringify(v)})`)
  return v
}

/**
 * Parses a CLIPVisionConfig (or CLIPConfig.vision_config) JSON object; `where` names the file in
 * errors. HF configs carry projection_dim even for CLIPVisionModel (which has no projection), so
 * the projection is used only when the caller says the state dict has `visual_projection.weight`.
 */
export function configFromHf(json: unknown, where = 'config.json', opts: { withProjection?: boolean } = {}): ClipVisionConfig {
  const top = json as Record<string, unknown> | null
  if (!json || typeof json !== 'object') throw new AmalgamError('BAD_FILE', `${where}: not a JSON object`)
  let j = json as Record<string, unknown>
  if (j.vision_config && typeof j.vision_config === 'object') j = j.vision_config as Record<string, unknown>
  const act = (j.hidden_act ?? 'quick_gelu') as string
  if (act !== 'quick_gelu' && act !== 'gelu') throw new AmalgamError('BAD_FILE', `${where}: hidden_act ${JSON.stringify(act)} is not supported (quick_gelu or gelu)`)
  const cfg: ClipVisionConfig = {
    imageSize: num(j, 'image_size', where, 224),
    patchSize: num(j, 'patch_size', where, 32),
    numChannels: num(j, 'num_channels', where, 3),
    hiddenSize: num(j, 'hidden_size', where),
    intermediateSize: num(j, 'intermediate_size', where),
    numHeads: num(j, 'num_attention_heads', where),
    numLayers: num(j, 'num_hidden_layers', where),
    layerNormEps: num(j, 'layer_norm_eps', where, 1e-5),
    hiddenAct: act,
  }
  if (opts.withProjection) cfg.projectionDim = num(j, 'projection_dim', where, typeof top?.projection_dim === 'number' ? top.projection_dim : 512)
  validateConfig(cfg, where)
  return cfg
}

export function validateConfig(cfg: ClipVisionConfig, where = 'config'): void {
  if (cfg.imageSize % cfg.patchSize !== 0) throw new AmalgamError('BAD_FILE', `${where}: image_size ${cfg.imageSize} is not a multiple of patch_size ${cfg.patchSize}`)
  if (cfg.hiddenSize % cfg.numHeads !== 0) throw new AmalgamError('BAD_FILE', `${where}: hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numHeads}`)
}

/** The config.json written for our checkpoints: loadable by transformers' CLIPVisionModel. */
export function configToHf(cfg: ClipVisionConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: ['CLIPVisionModel'],
    model_type: 'clip_vision_model',
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_attention_heads: cfg.numHeads,
    num_hidden_layers: cfg.numLayers,
    image_size: cfg.imageSize,
    patch_size: cfg.patchSize,
    num_channels: cfg.numChannels,
    hidden_act: cfg.hiddenAct,
    layer_norm_eps: cfg.layerNormEps,
    attention_dropout: 0.0,
    dropout: 0.0,
    initializer_factor: 1.0,
    initializer_range: 0.02,
    torch_dtype: 'float32',
  }
  if (cfg.projectionDim) out.projection_dim = cfg.projectionDim
  return out
}

export const numTokens = (cfg: ClipVisionConfig): number => (cfg.imageSize / cfg.patchSize) ** 2 + 1

/** Every parameter of the vision tower with its shape, in HF names (sorted by the caller if needed). */
export function clipParamShapes(cfg: ClipVisionConfig): Map<string, number[]> {
  const D = cfg.hiddenSize, I = cfg.intermediateSize, p = cfg.patchSize
  const m = new Map<string, number[]>()
  m.set(`${VM}.embeddings.class_embedding`, [D])
  m.set(`${VM}.embeddings.patch_embedding.weight`, [D, cfg.numChannels, p, p])
  m.set(`${VM}.embeddings.position_embedding.weight`, [numTokens(cfg), D])
  m.set(`${VM}.pre_layrnorm.weight`, [D])
  m.set(`${VM}.pre_layrnorm.bias`, [D])
  for (let l = 0; l < cfg.numLayers; l++) {
    const L = `${VM}.encoder.layers.${l}`
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${L}.self_attn.${proj}.weight`, [D, D])
      m.set(`${L}.self_attn.${proj}.bias`, [D])
    }
    m.set(`${L}.layer_norm1.weight`, [D]); m.set(`${L}.layer_norm1.bias`, [D])
    m.set(`${L}.mlp.fc1.weight`, [I, D]); m.set(`${L}.mlp.fc1.bias`, [I])
    m.set(`${L}.mlp.fc2.weight`, [D, I]); m.set(`${L}.mlp.fc2.bias`, [D])
    m.set(`${L}.layer_norm2.weight`, [D]); m.set(`${L}.layer_norm2.bias`, [D])
  }
  m.set(`${VM}.post_layernorm.weight`, [D])
  m.set(`${VM}.post_layernorm.bias`, [D])
  if (cfg.projectionDim) m.set('visual_projection.weight', [cfg.projectionDim, D])
  return m
}
