// The CLIP TA8 model pool: a full CLIP base plus fine-tuned vision towers (FusionBench's
// tanganke/clip-vit-base-patch32_<task> CLIPVisionModel folders). Only the vision tower is merged,
// so the pool exposes vision_model.* tensors only; the text tower and visual_projection always
// come from the base at evaluation time (methods.md §0.3).
import { AmalgamError } from '#common/errors'
import { isFloat, type TensorMeta, type TensorSource } from '../tensors/source'
import { openModel } from '../checkpoints/open'
import type { BlockSpec } from '../tensors/block-sample'

export const VISION_PREFIX = 'vision_model.'

/** A view of a source restricted to names with a prefix. Closing it closes the underlying source. */
export class PrefixSource implements TensorSource {
  readonly label: string
  private readonly inner: TensorSource
  private readonly keep: string[]
  private readonly set: Set<string>
  constructor(inner: TensorSource, prefix: string) {
    this.inner = inner
    this.label = inner.label
    this.keep = inner.names().filter((n) => n.startsWith(prefix))
    this.set = new Set(this.keep)
    if (this.keep.length === 0) throw new AmalgamError('BAD_FILE', `${inner.label}: no ${prefix}* tensors (is this a CLIP vision checkpoint?)`)
    const sample = inner.sampleBlocks?.bind(inner)
    if (sample) this.sampleBlocks = (name, spec, out) => { this.check(name); sample(name, spec, out) }
  }
  names(): string[] { return [...this.keep] }
  has(name: string): boolean { return this.set.has(name) }
  meta(name: string): TensorMeta { this.check(name); return this.inner.meta(name) }
  readF32(name: string): Promise<Float32Array> { this.check(name); return this.inner.readF32(name) }
  readRaw(name: string): Promise<Uint8Array> { this.check(name); return this.inner.readRaw(name) }
  /** present when the inner source takes block samples (TensorSource.sampleBlocks) */
  readonly sampleBlocks?: (name: string, spec: BlockSpec, out: Float32Array) => void
  async close(): Promise<void> { await this.inner.close?.() }
  private check(name: string): void { if (!this.set.has(name)) throw new AmalgamError('BAD_REQUEST', `${this.label}: no tensor named ${name} in the vision tower`) }
}

/**
 * A vision tower (merged or not) with `extra` tensors taken from another source — used to attach
 * the base's visual_projection to a merged CLIPVisionModel for evaluation. Does not own either.
 */
export class OverlaySource implements TensorSource {
  readonly label: string
  constructor(private readonly main: TensorSource, private readonly from: TensorSource, private readonly extra: readonly string[]) {
    this.label = main.label
    for (const n of extra) if (!from.has(n)) throw new AmalgamError('BAD_FILE', `${from.label}: missing tensor ${n}`)
  }
  names(): string[] { return [...new Set([...this.main.names().filter((n) => !this.extra.includes(n)), ...this.extra])].sort() }
  has(name: string): boolean { return this.extra.includes(name) || this.main.has(name) }
  private src(name: string): TensorSource { return this.extra.includes(name) ? this.from : this.main }
  meta(name: string): TensorMeta { return this.src(name).meta(name) }
  readF32(name: string): Promise<Float32Array> { return this.src(name).readF32(name) }
  readRaw(name: string): Promise<Uint8Array> { return this.src(name).readRaw(name) }
}

export interface ClipPool {
  /** θ0: the base's vision_model.* tensors */
  base: TensorSource
  /** the fine-tuned vision towers, in the order given */
  models: TensorSource[]
  close(): Promise<void>
}

async function openVision(dir: string): Promise<PrefixSource> {
  const raw = await openModel(dir)
  try { return new PrefixSource(raw, VISION_PREFIX) } catch (e) { await raw.close(); throw e }
}

/** Opens the base CLIP folder and the expert folders, restricted to the vision tower, checking names and shapes agree. */
export async function openClipPool(baseDir: string, expertDirs: readonly string[]): Promise<ClipPool> {
  if (expertDirs.length === 0) throw new AmalgamError('BAD_PARAM', 'CLIP pool: no fine-tuned models given')
  const opened: TensorSource[] = []
  try {
    const base = await openVision(baseDir)
    opened.push(base)
    const models: TensorSource[] = []
    for (const d of expertDirs) {
      const m = await openVision(d)
      opened.push(m)
      models.push(m)
      // integer buffers (position_ids, persistent only in older transformers) are copied from the
      // base and never merged, so an expert may lack them or carry them
      for (const n of base.names()) {
        if (!isFloat(base.meta(n).dtype)) continue
        if (!m.has(n)) throw new AmalgamError('POOL_MISMATCH', `${m.label}: missing tensor ${n} that the base ${base.label} has`)
        const a = base.meta(n).shape, b = m.meta(n).shape
        if (a.length !== b.length || a.some((v, i) => v !== b[i])) throw new AmalgamError('POOL_MISMATCH', `${m.label}: tensor ${n} has shape [${b}] but the base has [${a}]`)
      }
      for (const n of m.names()) if (!base.has(n) && isFloat(m.meta(n).dtype)) throw new AmalgamError('POOL_MISMATCH', `${m.label}: tensor ${n} is not in the base ${base.label}`)
    }
    return { base, models, close: async () => { for (const s of opened) await s.close?.() } }
  } catch (e) {
    for (const s of opened) await s.close?.().catch(() => undefined)
    throw e
  }
}
