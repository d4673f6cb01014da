// A full CLIP base folder (HF CLIPModel: vision + text towers, projections, logit_scale, tokenizer
// and preprocessor files), e.g. openai/clip-vit-base-patch32 saved locally.
import { createHash } from 'node:crypto'
import { AmalgamError } from '#common/errors'
import { openModel, type ModelSource } from '../checkpoints/open'
import { configFromHf, type ClipVisionConfig } from '../model/config'
import { loadClipImageConfig, type ClipImageConfig } from '../datasets/preprocess'
import { type ClipTextConfig, TM, textConfigFromHf } from './text-config'
import { loadClipTokenizer, type ClipTokenizer } from './tokenizer'

export interface ClipBase {
  readonly dir: string
  readonly source: ModelSource
  readonly textConfig: ClipTextConfig
  /** the vision config with projectionDim set (visual_projection comes from the base) */
  readonly visionConfig: ClipVisionConfig
  readonly imageConfig: ClipImageConfig
  readonly tokenizer: ClipTokenizer
  /** the stored (log) logit scale; logits are multiplied by exp(logitScale) */
  readonly logitScale: number
  /** sha256 over the tensors a zero-shot head depends on (text tower, text_projection, logit_scale) */
  textHash(): Promise<string>
  close(): Promise<void>
}

export async function openClipBase(dir: string): Promise<ClipBase> {
  const source = await openModel(dir)
  try {
    const where = `${dir}/config.json`
    if (!source.config) throw new AmalgamError('BAD_FILE', `${dir}: no config.json; a CLIP base folder needs the CLIPModel config`)
    const textConfig = textConfigFromHf(source.config, where)
    const vision = configFromHf(source.config, where)
    const visionConfig: ClipVisionConfig = { ...vision, projectionDim: textConfig.projectionDim }
    for (const name of ['visual_projection.weight', 'text_projection.weight', 'logit_scale']) {
      if (!source.has(name)) throw new AmalgamError('BAD_FILE', `${source.label}: missing tensor ${name}; the base must be a full CLIPModel, not a CLIPVisionModel`)
    }
    const ls = await source.readF32('logit_scale')
    if (ls.length !== 1 || !Number.isFinite(ls[0])) throw new AmalgamError('BAD_FILE', `${source.label}: logit_scale must be one finite number`)
    const imageConfig = loadClipImageConfig(dir, vision.imageSize)
    const out = imageConfig.doCenterCrop ? imageConfig.cropSize : imageConfig.size
    if (out !== vision.imageSize) throw new AmalgamError('BAD_FILE', `${dir}: preprocessor_config.json produces ${out}×${out} images but the vision config expects ${vision.imageSize}`)
    const tokenizer = loadClipTokenizer(dir, { contextLength: textConfig.maxPositions })
    let hash: Promise<string> | null = null
    return {
      dir, source, textConfig, visionConfig, imageConfig, tokenizer, logitScale: ls[0],
      textHash: () => (hash ??= hashTextTensors(source)),
      close: () => source.close(),
    }
  } catch (e) {
    await source.close().catch(() => undefined)
    throw e
  }
}

async function hashTextTensors(src: ModelSource): Promise<string> {
  const h = createHash('sha256')
  const names = src.names().filter((n) => n.startsWith(`${TM}.`) || n === 'text_projection.weight' || n === 'logit_scale')
  for (const n of names) {
    const m = src.meta(n)
    h.update(`${n}|${m.dtype}|${m.shape.join(',')}\n`)
    h.update(await src.readRaw(n))
  }
  return h.digest('hex')
}
