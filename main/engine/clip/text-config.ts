// The CLIP text tower configuration (CLIPTextConfig, or CLIPConfig.text_config) and the parameter
// names/shapes it implies, in Hugging Face CLIPModel naming.
import { AmalgamError } from '#common/errors'
import type { HiddenAct } from '../model/config'

export interface ClipTextConfig {
  vocabSize: number
  hiddenSize: number
  intermediateSize: number
  numHeads: number
  numLayers: number
  maxPositions: number
  layerNormEps: number
  hiddenAct: HiddenAct
  /**
   * The id whose first occurrence marks the pooled position. transformers treats the value 2 (left
   * in the original openai configs, which is not the real <|endoftext|> id) as "legacy": it then
   * pools at the highest token id of each row instead.
   */
  eosTokenId: number
  /** rows of `text_projection.weight` [projectionDim, hiddenSize] */
  projectionDim: number
}

export const TM = 'text_model'
/** transformers' marker for configs whose eos_token_id predates the fix (pool at argmax of ids) */
export const LEGACY_EOS_ID = 2

const num = (j: Record<string, unknown>, key: string, where: string, fallback?: number): number => {
  const v = j[key]
  if (v === undefined && fallback !== undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new AmalgamError('BAD_FILE', `${where}: field ${key} must be a non-negative number (got ${JSON.stringify(v)})`)
  return v
}

/** Parses the text half of a CLIPConfig (config.json of a full CLIP base); `where` names the file. */
export function textConfigFromHf(json: unknown, where = 'config.json'): ClipTextConfig {
  if (!json || typeof json !== 'object') throw new AmalgamError('BAD_FILE', `${where}: not a JSON object`)
  const top = json as Record<string, unknown>
  const tc = top.text_config
  if (!tc || typeof tc !== 'object') throw new AmalgamError('BAD_FILE', `${where}: no text_config; a CLIP base folder must hold a full CLIPModel (vision + text towers)`)
  const j = tc as Record<string, unknown>
  const act = (j.hidden_act ?? 'quick_gelu') as string
  if (act !== 'quick_gelu' && act !== 'gelu') throw new AmalgamError('BAD_FILE', `${where}: text_config.hidden_act ${JSON.stringify(act)} is not supported (quick_gelu or gelu)`)
  const cfg: ClipTextConfig = {
    vocabSize: num(j, 'vocab_size', where, 49408),
    hiddenSize: num(j, 'hidden_size', where, 512),
    intermediateSize: num(j, 'intermediate_size', where, 2048),
    numHeads: num(j, 'num_attention_heads', where, 8),
    numLayers: num(j, 'num_hidden_layers', where, 12),
    maxPositions: num(j, 'max_position_embeddings', where, 77),
    layerNormEps: num(j, 'layer_norm_eps', where, 1e-5),
    hiddenAct: act,
    eosTokenId: num(j, 'eos_token_id', where, LEGACY_EOS_ID),
    projectionDim: num(top, 'projection_dim', where, num(j, 'projection_dim', where, 512)),
  }
  if (cfg.hiddenSize % cfg.numHeads !== 0) throw new AmalgamError('BAD_FILE', `${where}: text hidden_size ${cfg.hiddenSize} is not divisible by num_attention_heads ${cfg.numHeads}`)
  return cfg
}

/** Every text-tower parameter with its shape, plus text_projection (no bias). */
export function textParamShapes(cfg: ClipTextConfig): Map<string, number[]> {
  const D = cfg.hiddenSize, I = cfg.intermediateSize
  const m = new Map<string, number[]>()
  m.set(`${TM}.embeddings.token_embedding.weight`, [cfg.vocabSize, D])
  m.set(`${TM}.embeddings.position_embedding.weight`, [cfg.maxPositions, D])
  for (let l = 0; l < cfg.numLayers; l++) {
    const L = `${TM}.encoder.layers.${l}`
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) { m.set(`${L}.self_attn.${p}.weight`, [D, D]); m.set(`${L}.self_attn.${p}.bias`, [D]) }
    m.set(`${L}.layer_norm1.weight`, [D]); m.set(`${L}.layer_norm1.bias`, [D])
    m.set(`${L}.mlp.fc1.weight`, [I, D]); m.set(`${L}.mlp.fc1.bias`, [I])
    m.set(`${L}.mlp.fc2.weight`, [D, I]); m.set(`${L}.mlp.fc2.bias`, [D])
    m.set(`${L}.layer_norm2.weight`, [D]); m.set(`${L}.layer_norm2.bias`, [D])
  }
  m.set(`${TM}.final_layer_norm.weight`, [D]); m.set(`${TM}.final_layer_norm.bias`, [D])
  m.set('text_projection.weight', [cfg.projectionDim, D])
  return m
}

/**
 * Pooled position of each row of a [n, T] id matrix, as transformers' CLIPTextTransformer picks it:
 * legacy configs take the highest id (the eos is CLIP's highest id), newer ones the first eos.
 */
export function eosPositions(ids: Int32Array, n: number, T: number, eosTokenId: number): Int32Array {
  const pos = new Int32Array(n)
  for (let r = 0; r < n; r++) {
    const row = ids.subarray(r * T, (r + 1) * T)
    let p = -1
    if (eosTokenId === LEGACY_EOS_ID) {
      let best = -Infinity
      for (let t = 0; t < T; t++) if (row[t] > best) { best = row[t]; p = t }
    } else {
      for (let t = 0; t < T; t++) if (row[t] === eosTokenId) { p = t; break }
      if (p < 0) throw new AmalgamError('BAD_REQUEST', `CLIP text: row ${r} has no eos token ${eosTokenId}`)
    }
    pos[r] = p
  }
  return pos
}
