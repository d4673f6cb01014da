// The mini-8 benchmark as shipped under resources/mini8: task list, model folders, heads, data
// splits (read lazily, checksummed) and the stored reference accuracies.
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BenchRow } from '#common/types'
import { AmalgamError } from '#common/errors'
import { configFromHf, type ClipVisionConfig } from '../model/config'
import { readHead, type StoredHead } from './heads'
import { readManifest, readSplit, type Manifest } from './store'
import type { ImageSet, SplitName } from './prepare'
import { Rng } from './rng'

export interface ReferenceFile {
  benchmark: 'mini8'
  tasks: string[]
  split: 'test'
  /** pretrained, Individual (each task with its own expert), multitask */
  rows: BenchRow[]
  /** every expert evaluated on all eight tasks */
  experts: BenchRow[]
  /** Individual accuracies on the validation split (denominators when evaluating on val) */
  individualVal: Record<string, number>
  /** Task Arithmetic check written by build:mini8 */
  taskArithmetic?: Array<{ lambda: number; accuracy: Record<string, number>; average: number; normalized: number }>
}

export interface Mini8 {
  readonly root: string
  readonly name: 'mini8'
  readonly tasks: string[]
  readonly manifest: Manifest
  readonly config: ClipVisionConfig
  readonly pretrainedDir: string
  readonly multitaskDir: string
  /** task → expert folder */
  readonly expertDirs: Record<string, string>
  head(task: string): Promise<StoredHead>
  data(task: string, split: SplitName): ImageSet
  /** stored Individual accuracies (test or val), or null before build:mini8 wrote reference.json */
  individualAccuracy(split?: 'test' | 'val'): Record<string, number> | null
  reference(): ReferenceFile | null
  /** n training images of a task drawn without replacement with a seeded generator */
  exemplars(task: string, n: number, seed: number): ImageSet & { indices: number[] }
}

/** resources/mini8 in the source tree; AMALGAM_MINI8 overrides (packaged app, tests). */
export function defaultMini8Root(): string {
  if (process.env.AMALGAM_MINI8) return resolve(process.env.AMALGAM_MINI8)
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../resources/mini8')
}

export const REFERENCE_FILE = 'reference.json'

export async function loadMini8(root = defaultMini8Root()): Promise<Mini8> {
  const dataDir = join(root, 'data')
  const manifest = readManifest(dataDir)
  const tasks = manifest.tasks.map((t) => t.name)
  const pretrainedDir = join(root, 'models', 'pretrained')
  const cfgFile = join(pretrainedDir, 'config.json')
  if (!existsSync(cfgFile)) throw new AmalgamError('NOT_FOUND', `mini-8: ${cfgFile} is missing (run npm run build:mini8)`)
  const config = configFromHf(JSON.parse(readFileSync(cfgFile, 'utf8')), cfgFile)
  const expertDirs = Object.fromEntries(tasks.map((t) => [t, join(root, 'models', t)]))
  const heads = new Map<string, Promise<StoredHead>>()
  const splits = new Map<string, ImageSet>()
  const taskIndex = (task: string) => {
    if (!tasks.includes(task)) throw new AmalgamError('NOT_FOUND', `mini-8: no task named ${task} (tasks: ${tasks.join(', ')})`)
  }
  let ref: ReferenceFile | null | undefined
  const reference = (): ReferenceFile | null => {
    if (ref !== undefined) return ref
    const f = join(root, REFERENCE_FILE)
    if (!existsSync(f)) return (ref = null)
    try { ref = JSON.parse(readFileSync(f, 'utf8')) as ReferenceFile } catch (e) {
      throw new AmalgamError('BAD_FILE', `${f}: not valid JSON (${(e as Error).message})`)
    }
    return ref
  }
  const bench: Mini8 = {
    root, name: 'mini8', tasks, manifest, config, pretrainedDir, multitaskDir: join(root, 'models', 'multitask'), expertDirs,
    head(task) {
      taskIndex(task)
      let h = heads.get(task)
      if (!h) {
        h = readHead(join(root, 'heads', `${task}.safetensors`)).then((x) => {
          const classes = manifest.tasks.find((t) => t.name === task)!.classes.length
          if (x.classes !== classes) throw new AmalgamError('BAD_FILE', `mini-8 head ${task}: ${x.classes} rows but the task has ${classes} classes`)
          return x
        })
        h.catch(() => heads.delete(task))
        heads.set(task, h)
      }
      return h
    },
    data(task, split) {
      taskIndex(task)
      const key = `${task}/${split}`
      let s = splits.get(key)
      if (!s) { s = readSplit(dataDir, manifest, task, split); splits.set(key, s) }
      return s
    },
    individualAccuracy(split = 'test') {
      const r = reference()
      if (!r) return null
      if (split === 'val') return r.individualVal ?? null
      return r.rows.find((x) => x.kind === 'expert')?.accuracy ?? null
    },
    reference,
    exemplars(task, n, seed) {
      const set = bench.data(task, 'train')
      if (!Number.isInteger(n) || n < 1 || n > set.count) throw new AmalgamError('BAD_PARAM', `mini-8 exemplars: n must be an integer in 1..${set.count} (got ${n})`)
      const px = manifest.imageSize * manifest.imageSize * manifest.channels
      const indices = Array.from(new Rng(seed).permutation(set.count).subarray(0, n))
      const pixels = new Uint8Array(n * px), labels = new Uint8Array(n)
      indices.forEach((i, k) => { pixels.set(set.pixels.subarray(i * px, (i + 1) * px), k * px); labels[k] = set.labels[i] })
      return { count: n, pixels, labels, indices }
    },
  }
  return bench
}
