// Checkpoint summary from headers and config.json only — weights are never read, so inspecting a
// multi-gigabyte model costs a few kilobytes of I/O.
import { stat } from 'node:fs/promises'
import type { CheckpointInfo } from '#common/types'
import { numel } from '../tensors/source'
import { DTYPE_BYTES } from '../safetensors/dtype'
import { openModel } from './open'

/** config.json fields worth showing; `dtype` wins over the older `torch_dtype` (formats.md §3.2). */
export function summarizeConfig(config: Record<string, unknown> | undefined): CheckpointInfo['config'] {
  if (!config) return undefined
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
  const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
  const archs = Array.isArray(config.architectures) ? config.architectures.filter((a): a is string => typeof a === 'string') : undefined
  // CLIPModel-style configs keep the vision hyperparameters in a sub-config
  const vision = config.vision_config && typeof config.vision_config === 'object' ? (config.vision_config as Record<string, unknown>) : undefined
  return {
    architectures: archs,
    modelType: str(config.model_type),
    dtype: str(config.dtype) ?? str(config.torch_dtype),
    hiddenSize: int(config.hidden_size) ?? int(vision?.hidden_size),
    layers: int(config.num_hidden_layers) ?? int(vision?.num_hidden_layers),
  }
}

/**
 * Inspect a .safetensors file or a Hugging Face folder (single file or sharded). `bytes` is the
 * size on disk of the safetensors files (headers included); parameters count every tensor element.
 */
export async function inspectCheckpoint(path: string, opts: { tensors?: boolean } = {}): Promise<CheckpointInfo> {
  const m = await openModel(path)
  try {
    const dtypes: Record<string, number> = {}
    let parameterCount = 0
    const tensors: NonNullable<CheckpointInfo['tensors']> = []
    for (const name of m.names()) {
      const t = m.meta(name)
      dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1
      const n = numel(t.shape)
      parameterCount += n
      if (opts.tensors) tensors.push({ name, dtype: t.dtype, shape: t.shape, bytes: n * DTYPE_BYTES[t.dtype] })
    }
    let bytes = 0
    for (const f of m.files) bytes += (await stat(f)).size
    const info: CheckpointInfo = {
      path: m.label,
      format: m.format,
      files: [...m.files],
      shards: m.files.length,
      tensorCount: m.names().length,
      parameterCount,
      bytes,
      dtypes,
    }
    const config = summarizeConfig(m.config)
    if (config) info.config = config
    if (Object.keys(m.metadata).length) info.metadata = { ...m.metadata }
    if (opts.tensors) info.tensors = tensors
    return info
  } finally {
    await m.close()
  }
}
