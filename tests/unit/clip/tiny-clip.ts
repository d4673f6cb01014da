// Writes a tiny random CLIP base (full CLIPModel layout: vision + text towers, projections,
// logit_scale, tokenizer and preprocessor files) and CLIPVisionModel "experts" to disk.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeSafetensors } from '../../../main/engine/safetensors/writer'
import { clipParamShapes, configFromHf } from '../../../main/engine/model/config'
import { textConfigFromHf, textParamShapes } from '../../../main/engine/clip/text-config'
import { TEST_MERGES, tinyClipVocab } from './tiny-vocab'

export function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5 }
}

export interface TinyOpts { eosTokenId?: number; act?: 'quick_gelu' | 'gelu'; seed?: number; logitScale?: number }

export function tinyConfig(o: TinyOpts = {}): Record<string, unknown> {
  const common = { hidden_size: 12, intermediate_size: 20, num_attention_heads: 2, num_hidden_layers: 2, hidden_act: o.act ?? 'quick_gelu', layer_norm_eps: 1e-5 }
  return {
    architectures: ['CLIPModel'], model_type: 'clip', projection_dim: 6,
    text_config: { ...common, vocab_size: 49408, max_position_embeddings: 7, eos_token_id: o.eosTokenId ?? 2 },
    vision_config: { ...common, image_size: 8, patch_size: 4, num_channels: 3 },
  }
}

type T = { dtype: 'F32'; shape: number[]; data: Float32Array }

function randomTensors(shapes: Map<string, number[]>, r: () => number, into: Map<string, T>): void {
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    const isNormGain = /(layer_norm\d|layrnorm|layernorm|final_layer_norm)\.weight$/.test(name)
    for (let i = 0; i < n; i++) data[i] = isNormGain ? 1 + 0.2 * r() : 0.6 * r()
    into.set(name, { dtype: 'F32', shape, data })
  }
}

/** A full CLIP base folder; returns the tensors written (for reference computations). */
export async function writeTinyClipBase(dir: string, o: TinyOpts = {}): Promise<Map<string, T>> {
  mkdirSync(dir, { recursive: true })
  const cfg = tinyConfig(o)
  const r = rng(o.seed ?? 1)
  const t = new Map<string, T>()
  const vc = { ...configFromHf(cfg), projectionDim: 6 }
  randomTensors(clipParamShapes(vc), r, t)
  randomTensors(textParamShapes(textConfigFromHf(cfg)), r, t)
  t.set('logit_scale', { dtype: 'F32', shape: [], data: Float32Array.of(o.logitScale ?? Math.log(100)) })
  await writeSafetensors(join(dir, 'model.safetensors'), t, { format: 'pt' })
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg))
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(tinyClipVocab()))
  writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\n' + TEST_MERGES.map((m) => m.join(' ')).join('\n') + '\n')
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<|endoftext|>', model_max_length: 77 }))
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ crop_size: 8, size: 8, do_resize: true, do_center_crop: true, resample: 3, image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711] }))
  return t
}

/** A CLIPVisionModel folder: the base's vision tensors plus seeded noise (a stand-in fine-tune). */
export async function writeTinyExpert(dir: string, base: Map<string, T>, seed: number, dropTensor?: string): Promise<Map<string, T>> {
  mkdirSync(dir, { recursive: true })
  const r = rng(seed)
  const t = new Map<string, T>()
  for (const [n, v] of base) {
    if (!n.startsWith('vision_model.') || n === dropTensor) continue
    t.set(n, { dtype: 'F32', shape: v.shape, data: v.data.map((x) => x + 0.05 * r()) })
  }
  await writeSafetensors(join(dir, 'model.safetensors'), t, { format: 'pt' })
  const vc = tinyConfig().vision_config as Record<string, unknown>
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['CLIPVisionModel'], model_type: 'clip_vision_model', ...vc }))
  return t
}

export const f64 = (m: Map<string, T>) => (name: string): Float64Array => {
  const v = m.get(name)
  if (!v) throw new Error(`reference: no tensor ${name}`)
  return Float64Array.from(v.data)
}
