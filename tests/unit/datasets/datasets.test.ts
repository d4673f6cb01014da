import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { parquetWriteFile } from 'hyparquet-writer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIP_MEAN, CLIP_STD, defaultClipImageConfig, loadClipImageConfig, openImageDataset, openImageFolder, openParquetDataset, preprocessBatch, preprocessImage } from '../../../main/engine/datasets'
import { shortestSideSize } from '../../../main/engine/datasets/preprocess'

const root = mkdtempSync(join(tmpdir(), 'amalgam-ds-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const solidPng = (w: number, h: number, rgb: [number, number, number]): Promise<Buffer> =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer()
// w×h RGB image whose red channel is 10·x + y (distinct per pixel), green 0, blue 255
const gradientPng = (w: number, h: number): Promise<Buffer> => {
  const px = Buffer.alloc(w * h * 3)
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { const o = (y * w + x) * 3; px[o] = 10 * x + y; px[o + 1] = 0; px[o + 2] = 255 }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer()
}
const norm = (v: number, c: number): number => (v / 255 - CLIP_MEAN[c]) / CLIP_STD[c]

const colours: Record<string, [number, number, number]> = { zebra: [200, 10, 30], ant: [0, 128, 255], moth: [77, 77, 77] }
const pngs: Buffer[] = []
const labels: number[] = []

beforeAll(async () => {
  // ImageFolder: classes deliberately created out of order; a stray non-image file is ignored
  for (const [cls, rgb] of Object.entries(colours)) {
    mkdirSync(join(root, 'folder', 'test', cls), { recursive: true })
    for (let i = 0; i < 2; i++) writeFileSync(join(root, 'folder', 'test', cls, `img${i}.png`), await solidPng(5 + i, 7, rgb))
  }
  writeFileSync(join(root, 'folder', 'test', 'ant', 'notes.txt'), 'not an image')
  // HF parquet: two test shards with row groups of 2, one train shard; HF ClassLabel metadata
  mkdirSync(join(root, 'hf', 'data'), { recursive: true })
  for (let i = 0; i < 7; i++) { pngs.push(await solidPng(4 + i, 4, [i * 30, 0, 0])); labels.push(i % 3) }
  const meta = [{ key: 'huggingface', value: JSON.stringify({ info: { features: { image: { _type: 'Image' }, label: { names: ['a', 'b', 'c'], _type: 'ClassLabel' } } } }) }]
  const schema = [
    { name: 'root', num_children: 2 },
    { name: 'image', repetition_type: 'OPTIONAL' as const, num_children: 2 },
    { name: 'bytes', type: 'BYTE_ARRAY' as const, repetition_type: 'OPTIONAL' as const },
    { name: 'path', type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'OPTIONAL' as const },
    { name: 'label', type: 'INT64' as const, repetition_type: 'OPTIONAL' as const },
  ]
  const shard = (file: string, from: number, to: number): void => parquetWriteFile({
    filename: join(root, 'hf', 'data', file), schema, kvMetadata: meta, rowGroupSize: 2,
    columnData: [
      { name: 'image', data: pngs.slice(from, to).map((b, k) => ({ bytes: new Uint8Array(b), path: `${from + k}.png` })) },
      { name: 'label', data: labels.slice(from, to).map((l) => BigInt(l)) },
    ],
  })
  shard('test-00000-of-00002.parquet', 0, 5)
  shard('test-00001-of-00002.parquet', 5, 7)
  shard('train-00000-of-00001.parquet', 0, 1)
})

describe('ImageFolder', () => {
  it('sorts classes, labels by class position, and batches in order', async () => {
    const ds = await openImageFolder(join(root, 'folder'), 'test')
    expect(ds.classNames).toEqual(['ant', 'moth', 'zebra'])
    expect(ds.size).toBe(6)
    const batches = []
    for await (const b of ds.batches(4)) batches.push(b)
    expect(batches.map((b) => b.length)).toEqual([4, 2])
    expect(batches.flat().map((e) => e.label)).toEqual([0, 0, 1, 1, 2, 2])
    expect(batches.flat().map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5])
    const px = await preprocessImage(batches[1][0].bytes, defaultClipImageConfig(4), batches[1][0].where)
    expect(px[0]).toBeCloseTo(norm(200, 0), 5); expect(px[1]).toBeCloseTo(norm(10, 1), 5); expect(px[2]).toBeCloseTo(norm(30, 2), 5)
  })
  it('names the folder when the split is missing', async () => {
    await expect(openImageFolder(join(root, 'folder'), 'train')).rejects.toThrow(/folder\/train/)
  })
})

describe('HF parquet shards', () => {
  it('streams both shards in order with labels, bytes and class names', async () => {
    const ds = await openParquetDataset(join(root, 'hf'), 'test')
    expect(ds.size).toBe(7)
    expect(ds.classNames).toEqual(['a', 'b', 'c'])
    const seen = []
    for await (const b of ds.batches(3)) { expect(b.length).toBeLessThanOrEqual(3); seen.push(...b) }
    expect(seen.map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(seen.map((e) => e.label)).toEqual(labels)
    seen.forEach((e, i) => expect(Buffer.from(e.bytes).equals(pngs[i])).toBe(true))
    const limited = []
    for await (const b of ds.batches(2, { limit: 3 })) limited.push(...b)
    expect(limited.map((e) => e.index)).toEqual([0, 1, 2])
    const train = await openImageDataset(join(root, 'hf'), 'train')
    expect(train.size).toBe(1)
  })
  it('auto-detects the layout and rejects a missing split', async () => {
    expect((await openImageDataset(join(root, 'folder'), 'test')).classNames).toEqual(['ant', 'moth', 'zebra'])
    await expect(openImageDataset(join(root, 'hf'), 'validation')).rejects.toThrow(/validation/)
  })
})

describe('CLIP preprocessing', () => {
  it('computes the shortest-side target as HF does', () => {
    expect(shortestSideSize(640, 480, 224)).toEqual({ width: 298, height: 224 })
    expect(shortestSideSize(300, 500, 224)).toEqual({ width: 224, height: 373 })
  })
  it('centre-crops without resampling when the short side already fits', async () => {
    const cfg = { ...defaultClipImageConfig(4) }
    const px = await preprocessImage(await gradientPng(7, 4), cfg) // crop 4 of 7 columns: left = 1
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
      const o = (y * 4 + x) * 3
      expect(px[o]).toBeCloseTo(norm(10 * (x + 1) + y, 0), 5)
      expect(px[o + 2]).toBeCloseTo(norm(255, 2), 5)
    }
  })
  it('resizes bicubically (constant images stay constant) and batches NHWC', async () => {
    const cfg = defaultClipImageConfig(8)
    const imgs = [await solidPng(20, 13, [10, 20, 30]), await solidPng(9, 30, [250, 0, 5])]
    const b = await preprocessBatch(imgs.map((bytes, i) => ({ index: i, label: i, bytes, where: `img${i}` })), cfg)
    expect(b.size).toBe(8); expect(b.pixels.length).toBe(2 * 8 * 8 * 3); expect([...b.labels]).toEqual([0, 1])
    for (let p = 0; p < 64; p++) {
      expect(b.pixels[p * 3]).toBeCloseTo(norm(10, 0), 5)
      expect(b.pixels[192 + p * 3]).toBeCloseTo(norm(250, 0), 5)
    }
    await expect(preprocessImage(new Uint8Array([1, 2, 3]), cfg, 'junk.png')).rejects.toThrow(/junk\.png/)
  })
  it('replicates greyscale (MNIST-style) and drops alpha to 3 channels', async () => {
    const grey = await sharp(Buffer.from([0, 60, 120, 180, 240, 30, 90, 150, 210]), { raw: { width: 3, height: 3, channels: 1 } }).toColourspace('b-w').png().toBuffer()
    expect((await sharp(grey).metadata()).channels).toBe(1)
    const px = await preprocessImage(grey, { ...defaultClipImageConfig(3) })
    expect(px.length).toBe(27)
    for (let c = 0; c < 3; c++) expect(px[4 * 3 + c]).toBeCloseTo(norm(240, c), 5)
    const rgba = await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 255, 70, 80, 90, 128, 1, 2, 3, 4]), { raw: { width: 2, height: 2, channels: 4 } }).png().toBuffer()
    const p2 = await preprocessImage(rgba, defaultClipImageConfig(2))
    expect(p2[0]).toBeCloseTo(norm(10, 0), 5) // alpha 0 pixel keeps its colour, as PIL's convert('RGB')
  })
  it('reads preprocessor_config.json', () => {
    const d = join(root, 'pp'); mkdirSync(d)
    writeFileSync(join(d, 'preprocessor_config.json'), JSON.stringify({ crop_size: { height: 336, width: 336 }, size: { shortest_edge: 336 }, image_mean: [0.5, 0.5, 0.5], image_std: [0.25, 0.25, 0.25], resample: 3 }))
    const c = loadClipImageConfig(d)
    expect(c).toMatchObject({ size: 336, cropSize: 336, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] })
    expect(loadClipImageConfig(join(root, 'none'), 224).size).toBe(224)
  })
})

describe('exemplars', () => {
  it('draws a seeded sample of the split in split order', async () => {
    const { sampleExemplars } = await import('../../../main/engine/datasets')
    const cfg = defaultClipImageConfig(4)
    const a = await sampleExemplars(join(root, 'hf'), cfg, { count: 4, split: 'test', seed: 1 })
    const b = await sampleExemplars(join(root, 'hf'), cfg, { count: 4, split: 'test', seed: 1 })
    expect(a.n).toBe(4)
    expect([...a.labels]).toEqual([...b.labels])
    expect(a.pixels).toEqual(b.pixels)
    const all = await sampleExemplars(join(root, 'hf'), cfg, { count: 50, split: 'test' })
    expect([...all.labels]).toEqual(labels)
    // red channel identifies the row (solid colour 30·i): a sample is a subset in order
    const rowsOf = (p: typeof a) => Array.from({ length: p.n }, (_, i) => Math.round(((p.pixels[i * 48] * CLIP_STD[0] + CLIP_MEAN[0]) * 255) / 30))
    const rows = rowsOf(a)
    expect(rows).toEqual([...rows].sort((x, y) => x - y))
    expect(new Set(rows).size).toBe(4)
    await expect(sampleExemplars(join(root, 'hf'), cfg, { count: 0 })).rejects.toThrow(/count/)
  })
})
