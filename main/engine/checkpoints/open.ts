// A checkpoint on disk as a TensorSource: one .safetensors file, a Hugging Face folder with
// model.safetensors, or a sharded folder described by model.safetensors.index.json. Only headers
// are read here; tensor data is read per tensor on demand.
import { readFile, readdir, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { AmalgamError } from '#common/errors'
import type { TensorMeta, TensorSource } from '../tensors/source'
import { isFloat } from '../tensors/source'
import type { BlockSpec } from '../tensors/block-sample'
import { openSafetensors, type SafetensorsFile, type TensorEntry } from '../safetensors/reader'

export const SINGLE_FILE = 'model.safetensors'
export const INDEX_FILE = 'model.safetensors.index.json'

export type CheckpointFormat = 'safetensors' | 'hf-folder' | 'sharded-hf-folder'

export interface ModelSource extends TensorSource {
  /** folder holding the weights (the file's folder for a bare .safetensors file) */
  readonly dir: string
  /** absolute paths of the safetensors files, in shard order */
  readonly files: string[]
  readonly format: CheckpointFormat
  /** parsed config.json when the folder has one */
  readonly config?: Record<string, unknown>
  /** `__metadata__` of the first file */
  readonly metadata: Record<string, string>
  /** parsed index (sharded folders only) */
  readonly index?: ShardIndex
  /** readF32 into a caller-owned buffer (reused across tensors by streaming loops); returns the filled view */
  readF32Into(name: string, out: Float32Array): Promise<Float32Array>
  /** the file and header entry holding a tensor */
  locate(name: string): { file: SafetensorsFile; entry: TensorEntry }
  close(): Promise<void>
}

export interface ShardIndex { metadata: Record<string, unknown>; weightMap: Record<string, string> }

/** Open a checkpoint by path (file or folder). Throws AmalgamError naming the file/tensor at fault. */
export async function openModel(pathOrDir: string): Promise<ModelSource> {
  const path = resolve(pathOrDir)
  const st = await stat(path).catch(() => null)
  if (!st) throw new AmalgamError('NOT_FOUND', `${pathOrDir}: no such file or folder`)
  if (st.isFile()) {
    if (path.endsWith('.index.json')) return openSharded(dirname(path), path, await readConfig(dirname(path)))
    const f = await openSafetensors(path)
    return new DiskModel(path, dirname(path), 'safetensors', [f], undefined, undefined, await readConfig(dirname(path), false))
  }
  const config = await readConfig(path)
  const indexPath = join(path, INDEX_FILE)
  if (await isFile(indexPath)) return openSharded(path, indexPath, config)
  const single = join(path, SINGLE_FILE)
  if (await isFile(single)) {
    const f = await openSafetensors(single)
    return new DiskModel(path, path, 'hf-folder', [f], undefined, undefined, config)
  }
  const entries = await readdir(path)
  const st2 = entries.filter((e) => e.endsWith('.safetensors'))
  if (st2.length === 1) {
    const f = await openSafetensors(join(path, st2[0]))
    return new DiskModel(path, path, 'hf-folder', [f], undefined, undefined, config)
  }
  const hint = entries.some((e) => e.startsWith('pytorch_model') && e.endsWith('.bin'))
    ? ' (it has pytorch_model*.bin: only safetensors weights are read; convert them first)'
    : st2.length > 1 ? ` (${st2.length} .safetensors files but no ${INDEX_FILE} saying how they fit together)` : ''
  throw new AmalgamError('NOT_FOUND', `${path}: no ${SINGLE_FILE} or ${INDEX_FILE} found${hint}`)
}

async function isFile(p: string): Promise<boolean> {
  const s = await stat(p).catch(() => null)
  return !!s && s.isFile()
}

/** config.json parsed, or undefined when absent. A present but broken config is an error. */
async function readConfig(dir: string, required = true): Promise<Record<string, unknown> | undefined> {
  const p = join(dir, 'config.json')
  let text: string
  try { text = await readFile(p, 'utf8') } catch { return undefined }
  try {
    const v = JSON.parse(text) as unknown
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object')
    return v as Record<string, unknown>
  } catch (e) {
    if (!required) return undefined // next to a bare file, a foreign config.json is not ours to judge
    throw new AmalgamError('BAD_FILE', `${p}: invalid config.json (${(e as Error).message})`)
  }
}

/** Parse and check model.safetensors.index.json (shape of transformers' index). */
export function parseIndex(text: string, indexPath: string): ShardIndex {
  let v: unknown
  try { v = JSON.parse(text) } catch (e) { throw new AmalgamError('BAD_FILE', `${indexPath}: not valid JSON (${(e as Error).message})`) }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AmalgamError('BAD_FILE', `${indexPath}: not a JSON object`)
  const o = v as Record<string, unknown>
  const wm = o.weight_map
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) throw new AmalgamError('BAD_FILE', `${indexPath}: "weight_map" is missing or not an object`)
  const weightMap: Record<string, string> = {}
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '' || file !== basename(file) || file === '.' || file === '..') {
      throw new AmalgamError('BAD_FILE', `${indexPath}: weight_map entry for tensor "${name}" is ${JSON.stringify(file)}, not a file name in the same folder`)
    }
    weightMap[name] = file
  }
  const md = o.metadata
  const metadata = md !== null && typeof md === 'object' && !Array.isArray(md) ? (md as Record<string, unknown>) : {}
  return { metadata, weightMap }
}

async function openSharded(dir: string, indexPath: string, config: Record<string, unknown> | undefined): Promise<ModelSource> {
  let text: string
  try { text = await readFile(indexPath, 'utf8') } catch (e) {
    throw new AmalgamError('IO', `${indexPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  const index = parseIndex(text, indexPath)
  // shard order: by file name, which for model-0000k-of-0000N is numeric order
  const shardNames = [...new Set(Object.values(index.weightMap))].sort()
  const files: SafetensorsFile[] = []
  try {
    for (const s of shardNames) {
      const p = join(dir, s)
      if (!(await isFile(p))) {
        const example = Object.keys(index.weightMap).find((n) => index.weightMap[n] === s)
        throw new AmalgamError('BAD_FILE', `${indexPath}: shard ${s} (listed for tensor "${example}") does not exist in ${dir}`)
      }
      files.push(await openSafetensors(p))
    }
    const byShard = new Map(files.map((f, i) => [shardNames[i], f]))
    for (const [name, s] of Object.entries(index.weightMap)) {
      if (!byShard.get(s)!.tensors.has(name)) throw new AmalgamError('BAD_FILE', `${indexPath}: tensor "${name}" is mapped to shard ${s}, but ${s} has no such tensor`)
    }
    return new DiskModel(dir, dir, 'sharded-hf-folder', files, index, byShard, config)
  } catch (e) {
    await Promise.all(files.map((f) => f.close().catch(() => undefined)))
    throw e
  }
}

class DiskModel implements ModelSource {
  readonly label: string
  readonly dir: string
  readonly files: string[]
  readonly format: CheckpointFormat
  readonly config?: Record<string, unknown>
  readonly metadata: Record<string, string>
  readonly index?: ShardIndex
  private readonly where = new Map<string, SafetensorsFile>()
  private readonly sorted: string[]
  private readonly handles: SafetensorsFile[]

  constructor(label: string, dir: string, format: CheckpointFormat, handles: SafetensorsFile[], index: ShardIndex | undefined,
    byShard: Map<string, SafetensorsFile> | undefined, config: Record<string, unknown> | undefined) {
    this.label = label
    this.dir = dir
    this.format = format
    this.handles = handles
    this.files = handles.map((h) => h.path)
    this.config = config
    this.index = index
    this.metadata = handles[0]?.metadata ?? {}
    if (index && byShard) {
      // the weight map is authoritative: a tensor a shard holds but the index omits is not loaded by transformers either
      for (const [name, s] of Object.entries(index.weightMap)) this.where.set(name, byShard.get(s)!)
    } else {
      for (const h of handles) for (const name of h.tensors.keys()) this.where.set(name, h)
    }
    this.sorted = [...this.where.keys()].sort()
  }

  names(): string[] { return [...this.sorted] }
  has(name: string): boolean { return this.where.has(name) }

  locate(name: string): { file: SafetensorsFile; entry: TensorEntry } {
    const file = this.where.get(name)
    if (!file) throw new AmalgamError('NOT_FOUND', `${this.label}: no tensor named "${name}"`)
    return { file, entry: file.tensors.get(name)! }
  }

  meta(name: string): TensorMeta {
    const { entry } = this.locate(name)
    return { name, shape: [...entry.shape], dtype: entry.dtype }
  }

  async readF32(name: string): Promise<Float32Array> {
    const { file, entry } = this.locate(name)
    if (!isFloat(entry.dtype)) {
      throw new AmalgamError('BAD_REQUEST', `${this.label}: tensor "${name}" is ${entry.dtype}; integer and bool tensors are copied byte for byte, not read as float32`)
    }
    return file.readF32(name)
  }

  async readF32Into(name: string, out: Float32Array): Promise<Float32Array> {
    const { file, entry } = this.locate(name)
    if (!isFloat(entry.dtype)) {
      throw new AmalgamError('BAD_REQUEST', `${this.label}: tensor "${name}" is ${entry.dtype}; integer and bool tensors are copied byte for byte, not read as float32`)
    }
    return file.readF32Into(name, out)
  }

  sampleBlocks(name: string, spec: BlockSpec, out: Float32Array): void {
    const { file, entry } = this.locate(name)
    if (!isFloat(entry.dtype)) {
      throw new AmalgamError('BAD_REQUEST', `${this.label}: tensor "${name}" is ${entry.dtype}; integer and bool tensors are copied byte for byte, not read as float32`)
    }
    file.sampleBlocks(name, spec, out)
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const { file } = this.locate(name)
    return file.readRaw(name)
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.close()))
  }
}
