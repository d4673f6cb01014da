// CLIP image preprocessing (CLIPImageProcessor): convert to RGB, resize so the shortest side is
// `size` with bicubic filtering, centre-crop `cropSize`, scale to [0, 1], normalise per channel.
// Output is NHWC float32, the layout the vision forward takes. sharp (libvips) decodes; the resize
// is our Pillow-exact bicubic (resample.ts) because libvips' own reduce differs from PIL's in the
// last bit and, for large factors, by a box pre-shrink.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { AmalgamError } from '#common/errors'
import type { ImageExample } from './types'
import { resizeBicubicRgb } from './resample'

export interface ClipImageConfig {
  /** target of the shortest side after resizing */
  size: number
  cropSize: number
  mean: [number, number, number]
  std: [number, number, number]
  doResize: boolean
  doCenterCrop: boolean
}

export const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073]
export const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711]

export function defaultClipImageConfig(imageSize = 224): ClipImageConfig {
  return { size: imageSize, cropSize: imageSize, mean: [...CLIP_MEAN], std: [...CLIP_STD], doResize: true, doCenterCrop: true }
}

const triple = (v: unknown, key: string, where: string): [number, number, number] => {
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new AmalgamError('BAD_FILE', `${where}: ${key} must be three numbers`)
  return [v[0], v[1], v[2]]
}
const edge = (v: unknown, key: string, where: string, fallback: number): number => {
  if (v === undefined) return fallback
  if (typeof v === 'number') return v
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>
    const n = o.shortest_edge ?? o.height ?? o.width
    if (typeof n === 'number') return n
  }
  throw new AmalgamError('BAD_FILE', `${where}: ${key} must be a number or {shortest_edge} / {height, width}`)
}

/** Reads preprocessor_config.json of a CLIP base folder; defaults to CLIP's 224 pipeline. */
export function loadClipImageConfig(dir: string, imageSize = 224): ClipImageConfig {
  const f = join(dir, 'preprocessor_config.json')
  const d = defaultClipImageConfig(imageSize)
  if (!existsSync(f)) return d
  let j: Record<string, unknown>
  try { j = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown> } catch (e) { throw new AmalgamError('BAD_FILE', `${f}: not valid JSON (${(e as Error).message})`) }
  if (j.resample !== undefined && j.resample !== 3) throw new AmalgamError('BAD_FILE', `${f}: resample ${JSON.stringify(j.resample)} is not supported (CLIP uses 3 = bicubic)`)
  const cfg: ClipImageConfig = {
    size: edge(j.size, 'size', f, d.size),
    cropSize: edge(j.crop_size, 'crop_size', f, d.cropSize),
    mean: j.image_mean === undefined ? d.mean : triple(j.image_mean, 'image_mean', f),
    std: j.image_std === undefined ? d.std : triple(j.image_std, 'image_std', f),
    doResize: j.do_resize !== false,
    doCenterCrop: j.do_center_crop !== false,
  }
  if (!(cfg.size > 0 && cfg.cropSize > 0)) throw new AmalgamError('BAD_FILE', `${f}: size and crop_size must be positive`)
  return cfg
}

/** Output side of the pipeline (what the vision tower must accept). */
export const outputSize = (cfg: ClipImageConfig): number => (cfg.doCenterCrop ? cfg.cropSize : cfg.size)

/** Resize target keeping aspect ratio, shortest side = size (the long side truncated, as HF does). */
export function shortestSideSize(w: number, h: number, size: number): { width: number; height: number } {
  if (w <= h) return { width: size, height: Math.trunc((size * h) / w) }
  return { width: Math.trunc((size * w) / h), height: size }
}

/** Decode to interleaved 8-bit RGB: PIL's convert('RGB') drops alpha without compositing and replicates greyscale. */
export async function decodeRgb(bytes: Uint8Array, where = 'image'): Promise<{ data: Uint8Array; width: number; height: number }> {
  try {
    // EXIF orientation is not applied, as PIL.Image.open does not apply it either.
    const { data, info } = await sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`)
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }
  } catch (e) {
    throw new AmalgamError('BAD_FILE', `${where}: cannot decode image (${(e as Error).message})`)
  }
}

/** One encoded image → [S, S, 3] float32, normalised. */
export async function preprocessImage(bytes: Uint8Array, cfg: ClipImageConfig, where = 'image'): Promise<Float32Array> {
  let { data, width: w, height: h } = await decodeRgb(bytes, where)
  if (cfg.doResize) {
    const t = shortestSideSize(w, h, cfg.size)
    if (t.width < 1 || t.height < 1) throw new AmalgamError('BAD_FILE', `${where}: a ${w}×${h} image cannot be resized to a shortest side of ${cfg.size}`)
    data = resizeBicubicRgb(data, w, h, t.width, t.height)
    w = t.width; h = t.height
  }
  let x0 = 0, y0 = 0, ow = w, oh = h
  if (cfg.doCenterCrop) {
    const c = cfg.cropSize
    if (w < c || h < c) throw new AmalgamError('BAD_FILE', `${where}: image is ${w}×${h} after resizing, smaller than the ${c}×${c} crop`)
    x0 = Math.floor((w - c) / 2); y0 = Math.floor((h - c) / 2); ow = c; oh = c
  }
  const out = new Float32Array(ow * oh * 3)
  const { mean, std } = cfg
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const i = ((y + y0) * w + x + x0) * 3, o = (y * ow + x) * 3
      out[o] = (data[i] / 255 - mean[0]) / std[0]
      out[o + 1] = (data[i + 1] / 255 - mean[1]) / std[1]
      out[o + 2] = (data[i + 2] / 255 - mean[2]) / std[2]
    }
  }
  return out
}

export interface PixelBatch { pixels: Float32Array; labels: Int32Array; n: number; size: number }

/** A batch of examples → NHWC pixels [n, S, S, 3] and labels; images decode concurrently (libvips threads). */
export async function preprocessBatch(examples: readonly ImageExample[], cfg: ClipImageConfig, concurrency = 4): Promise<PixelBatch> {
  const S = outputSize(cfg), per = S * S * 3
  const pixels = new Float32Array(examples.length * per)
  const labels = Int32Array.from(examples, (e) => e.label)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < examples.length) {
      const i = next++
      const px = await preprocessImage(examples[i].bytes, cfg, examples[i].where)
      if (px.length !== per) throw new AmalgamError('BAD_FILE', `${examples[i].where}: preprocessed to ${px.length / 3} pixels, expected ${S}×${S}`)
      pixels.set(px, i * per)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, examples.length) }, worker))
  return { pixels, labels, n: examples.length, size: S }
}
