// Seeded initialisation of a CLIP vision tower, following the scale of HF's CLIPVisionModel
// _init_weights (normal weights, unit LayerNorm, zero biases) so checkpoints look like real ones.
import type { MemTensor } from '../tensors/source'
import { numel } from '../tensors/source'
import { type ClipVisionConfig, clipParamShapes } from '../model/config'
import { Rng } from '../benchmark/rng'

export function initClipParams(cfg: ClipVisionConfig, seed: number): Map<string, MemTensor> {
  const rng = new Rng(seed)
  const D = cfg.hiddenSize, L = cfg.numLayers
  const out = new Map<string, MemTensor>()
  for (const [name, shape] of clipParamShapes(cfg)) {
    const data = new Float32Array(numel(shape))
    let std = 0
    if (name.endsWith('layer_norm1.weight') || name.endsWith('layer_norm2.weight') || name.endsWith('layrnorm.weight') || name.endsWith('post_layernorm.weight')) data.fill(1)
    else if (name.endsWith('.bias')) std = 0
    else if (name.endsWith('class_embedding')) std = D ** -0.5
    else if (name.endsWith('patch_embedding.weight')) std = (cfg.numChannels * cfg.patchSize * cfg.patchSize) ** -0.5
    else if (name.endsWith('position_embedding.weight')) std = 0.02
    else if (/(q|k|v)_proj\.weight$/.test(name)) std = D ** -0.5
    else if (name.endsWith('out_proj.weight')) std = D ** -0.5 * (2 * L) ** -0.5
    else if (name.endsWith('fc1.weight')) std = (2 * D) ** -0.5
    else if (name.endsWith('fc2.weight')) std = cfg.intermediateSize ** -0.5 * (2 * L) ** -0.5
    else if (name === 'visual_projection.weight') std = D ** -0.5
    if (std > 0) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std
    out.set(name, { shape: [...shape], data })
  }
  return out
}
