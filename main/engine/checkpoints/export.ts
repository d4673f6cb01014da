// Export of a merged model as a Hugging Face folder that transformers loads unchanged
// (formats.md §3 and §6): config.json, model.safetensors or model-0000k-of-0000N.safetensors +
// index, processor/tokenizer files, README.md card, amalgam_recipe.yaml. Everything is written into
// a temporary sibling folder and renamed into place on commit; a failure or cancel removes it.
import { copyFile, open, readFile, stat } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { basename, join } from 'node:path'
import type { FloatOutDType } from '#common/types'
import { AmalgamError } from '#common/errors'
import { isFloat, numel, type TensorMeta, type TensorSink, type TensorSource } from '../tensors/source'
import { throwIfCancelled, tick, type TaskCtx } from '../util/task'
import { AtomicDir } from '../util/atomic'
import { sha256File } from '../util/hash'
import { decodeToF32, DTYPE_BYTES, encodeFromF32, f16Overflow, firstNonFinite, outDTypeToSafetensors, type FloatEncodeDType } from '../safetensors/dtype'
import { SafetensorsStreamWriter, type PlannedTensor } from '../safetensors/writer'
import { renderModelCard, type ModelCardInput } from './model-card'
import { INDEX_FILE, SINGLE_FILE } from './open'

export const DEFAULT_SHARD_BYTES = 5e9
export const RECIPE_FILE = 'amalgam_recipe.yaml'

/** Files a processor/tokenizer `save_pretrained` leaves beside the weights; copied from the base when present. */
export const PROCESSOR_FILES = [
  'preprocessor_config.json', 'processor_config.json', 'video_preprocessor_config.json',
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json',
  'vocab.json', 'merges.txt', 'tokenizer.model', 'chat_template.jinja', 'chat_template.json', 'generation_config.json',
]

const TORCH_DTYPE: Record<FloatOutDType, string> = { f32: 'float32', bf16: 'bfloat16', f16: 'float16' }

export interface HfExportOptions {
  outDir: string
  /** pretrained model folder: config.json and processor/tokenizer files are taken from it */
  baseDir?: string
  /** config.json content to use instead of `<baseDir>/config.json` */
  config?: Record<string, unknown>
  /** every tensor to be written (names, shapes, stored dtypes of the base) */
  plan: TensorMeta[]
  /** output dtype of float tensors; default: the plan's (base model's) float dtype */
  dtype?: FloatOutDType
  /** tensor bytes per shard (default 5e9, as transformers v4 and mergekit) */
  shardBytes?: number
  /** extra safetensors `__metadata__` (string → string); `format: pt` is always set */
  metadata?: Record<string, string>
  card?: ModelCardInput
  recipeYaml?: string
  /** more files for the folder, name → text (e.g. report.json, mergekit_config.yml) */
  extraFiles?: Record<string, string>
  /** replace an existing non-empty output folder */
  overwrite?: boolean
}

export interface HfExportResult {
  outDir: string
  /** file names in the folder */
  files: string[]
  shards: number
  dtype: FloatOutDType
  /** tensor data bytes (the index's metadata.total_size) */
  totalSize: number
  totalParameters: number
}

interface Shard { file: string; tensors: PlannedTensor[]; writer: Promise<SafetensorsStreamWriter> | null; done: boolean }

/** The base model's float dtype as an output dtype: the most common float dtype in the plan. */
export function defaultOutDType(plan: readonly TensorMeta[]): FloatOutDType {
  const count = { f32: 0, bf16: 0, f16: 0 }
  for (const t of plan) {
    if (t.dtype === 'BF16') count.bf16++
    else if (t.dtype === 'F16') count.f16++
    else if (t.dtype === 'F32' || t.dtype === 'F64') count.f32++
  }
  if (count.bf16 > count.f32 && count.bf16 >= count.f16) return 'bf16'
  if (count.f16 > count.f32 && count.f16 > count.bf16) return 'f16'
  return 'f32'
}

/** Group tensors (in plan order) into shards of at most `limit` bytes; an oversized tensor gets its own. */
export function planShards(plan: readonly PlannedTensor[], limit: number): PlannedTensor[][] {
  const shards: PlannedTensor[][] = [[]]
  let size = 0
  for (const t of plan) {
    const b = numel(t.shape) * DTYPE_BYTES[t.dtype]
    const cur = shards[shards.length - 1]
    if (cur.length > 0 && size + b > limit) { shards.push([t]); size = b } else { cur.push(t); size += b }
  }
  return shards
}

export const shardFileName = (k: number, n: number): string =>
  n === 1 ? SINGLE_FILE : `model-${String(k).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`

/** JSON as Python's json.dumps(indent=2, sort_keys=True) writes it: sorted keys, non-ASCII escaped. */
export function pythonJson(value: unknown): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys)
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
    }
    return v
  }
  return JSON.stringify(sortKeys(value), null, 2).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A TensorSink that writes a Hugging Face folder atomically. */
export class HfFolderWriter implements TensorSink {
  /** write() has encoded and written the data when it resolves */
  readonly copiesOnWrite = true
  readonly outDir: string
  readonly dtype: FloatOutDType
  private readonly opts: HfExportOptions
  private readonly outSt: FloatEncodeDType
  private readonly planned = new Map<string, { meta: TensorMeta; stored: PlannedTensor; shard: Shard }>()
  private readonly shards: Shard[]
  private readonly metadata: Record<string, string>
  private readonly written = new Set<string>()
  private dir: AtomicDir | null = null
  private opening: Promise<AtomicDir> | null = null
  private state: 'open' | 'committed' | 'aborted' = 'open'

  constructor(opts: HfExportOptions) {
    this.opts = opts
    this.outDir = opts.outDir
    this.dtype = opts.dtype ?? defaultOutDType(opts.plan)
    if (!(this.dtype in TORCH_DTYPE)) throw new AmalgamError('BAD_PARAM', `output dtype "${String(this.dtype)}" is not one of f32, bf16, f16`)
    this.outSt = outDTypeToSafetensors(this.dtype)
    const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES
    if (!(shardBytes > 0)) throw new AmalgamError('BAD_PARAM', `shardBytes must be positive (got ${shardBytes})`)

    this.metadata = { format: 'pt' }
    for (const [k, v] of Object.entries(opts.metadata ?? {})) {
      if (typeof v !== 'string') throw new AmalgamError('BAD_PARAM', `export metadata "${k}" must be a string (JSON-encode structured values)`)
      if (k !== 'format') this.metadata[k] = v
    }
    if (opts.recipeYaml !== undefined) this.metadata.amalgam_recipe_sha256 = createHash('sha256').update(opts.recipeYaml).digest('hex')

    const stored: PlannedTensor[] = opts.plan.map((m) => ({ name: m.name, shape: [...m.shape], dtype: isFloat(m.dtype) ? this.outSt : m.dtype }))
    const groups = planShards(stored, shardBytes)
    this.shards = groups.map((tensors, i) => ({ file: shardFileName(i + 1, groups.length), tensors, writer: null, done: false }))
    const shardOf = new Map<PlannedTensor, Shard>()
    for (const s of this.shards) for (const t of s.tensors) shardOf.set(t, s)
    for (const [i, m] of opts.plan.entries()) {
      if (this.planned.has(m.name)) throw new AmalgamError('BAD_PARAM', `export plan lists tensor "${m.name}" twice`)
      this.planned.set(m.name, { meta: m, stored: stored[i], shard: shardOf.get(stored[i])! })
    }
  }

  /** Create the temporary folder now (otherwise it is created on the first write). */
  static async create(opts: HfExportOptions): Promise<HfFolderWriter> {
    const w = new HfFolderWriter(opts)
    await w.ready()
    return w
  }

  /** Path of the temporary folder while writing (for tests and progress displays). */
  get tempDir(): string | null { return this.dir?.tmp ?? null }

  private ready(): Promise<AtomicDir> {
    if (this.state !== 'open') return Promise.reject(new AmalgamError('INTERNAL', `${this.outDir}: export already ${this.state}`))
    this.opening ??= AtomicDir.create(this.outDir, { overwrite: this.opts.overwrite }).then((d) => (this.dir = d))
    return this.opening
  }

  private entry(name: string) {
    const p = this.planned.get(name)
    if (!p) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" is not in the export plan`)
    if (this.written.has(name)) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" was written twice`)
    return p
  }

  async write(name: string, shape: number[], data: Float32Array): Promise<void> {
    await this.guard(async () => {
      const p = this.entry(name)
      if (!isFloat(p.meta.dtype)) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" is ${p.meta.dtype}; integer tensors are copied with writeRaw`)
      if (shape.length !== p.meta.shape.length || shape.some((d, i) => d !== p.meta.shape[i])) {
        throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" has shape [${shape}] but the plan says [${p.meta.shape}]`)
      }
      if (data.length !== numel(shape)) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" has ${data.length} values for shape [${shape}]`)
      await this.put(name, p.shard, encodeChecked(name, data, this.outSt))
    })
  }

  async writeRaw(name: string, meta: TensorMeta, bytes: Uint8Array): Promise<void> {
    await this.guard(async () => {
      const p = this.entry(name)
      if (isFloat(p.meta.dtype)) {
        if (!isFloat(meta.dtype)) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" is float in the plan but ${meta.dtype} bytes were given`)
        const f32 = decodeToF32(bytes, meta.dtype)
        if (f32.length !== numel(p.meta.shape)) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" has ${f32.length} values, the plan's shape [${p.meta.shape}] needs ${numel(p.meta.shape)}`)
        // already in the output dtype: check, then write the given bytes untouched
        const out = meta.dtype === this.outSt ? (checkFinite(name, f32, this.outSt), bytes) : encodeChecked(name, f32, this.outSt)
        await this.put(name, p.shard, out)
        return
      }
      if (meta.dtype !== p.meta.dtype) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" is ${p.meta.dtype} in the plan but ${meta.dtype} bytes were given`)
      await this.put(name, p.shard, bytes)
    })
  }

  /**
   * Overwrites entries of a float tensor already written (TensorSink.patch). Shards stay open
   * until commit(), so any written tensor can be patched.
   */
  async patch(name: string, index: Uint32Array, values: Float32Array): Promise<void> {
    await this.guard(async () => {
      const p = this.planned.get(name)
      if (!p || !this.written.has(name)) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: tensor "${name}" is patched before it was written`)
      if (index.length !== values.length) throw new AmalgamError('BAD_REQUEST', `${this.outDir}: patch of "${name}" has ${index.length} indices but ${values.length} values`)
      await (await this.shardWriter(p.shard)).patch(name, index, encodeChecked(name, values, this.outSt))
    })
  }

  private async put(name: string, shard: Shard, bytes: Uint8Array): Promise<void> {
    const w = await this.shardWriter(shard)
    await w.write(name, bytes)
    this.written.add(name)
  }

  private async shardWriter(shard: Shard): Promise<SafetensorsStreamWriter> {
    const dir = await this.ready()
    shard.writer ??= SafetensorsStreamWriter.create(dir.path(shard.file), shard.tensors, this.metadata)
    return shard.writer
  }

  /** Any failure while writing removes the whole temporary folder before the error propagates. */
  private async guard(fn: () => Promise<void>): Promise<void> {
    if (this.state !== 'open') throw new AmalgamError('INTERNAL', `${this.outDir}: export already ${this.state}`)
    try { await fn() } catch (e) { await this.abort(); throw e }
  }

  /** Finish: index, config, processor files, card, recipe, extra files; then rename into place. */
  async commit(): Promise<HfExportResult> {
    let result!: HfExportResult
    await this.guard(async () => {
      const missing = [...this.planned.keys()].filter((n) => !this.written.has(n))
      if (missing.length) throw new AmalgamError('INTERNAL', `${this.outDir}: ${missing.length} planned tensor(s) never written, e.g. "${missing[0]}"`)
      const dir = await this.ready()
      for (const s of this.shards) {
        if (s.done) continue
        await (await this.shardWriter(s)).commit()
        s.done = true
      }
      const files = this.shards.map((s) => s.file)
      let totalSize = 0
      let totalParameters = 0
      for (const { stored } of this.planned.values()) { const n = numel(stored.shape); totalParameters += n; totalSize += n * DTYPE_BYTES[stored.dtype] }
      if (this.shards.length > 1) {
        const weightMap: Record<string, string> = {}
        for (const [name, p] of this.planned) weightMap[name] = p.shard.file
        await writeSynced(dir.path(INDEX_FILE), `${pythonJson({ metadata: { total_parameters: totalParameters, total_size: totalSize }, weight_map: weightMap })}\n`)
        files.push(INDEX_FILE)
      }
      const config = this.opts.config ?? (this.opts.baseDir ? await readBaseConfig(this.opts.baseDir) : undefined)
      if (config) {
        await writeSynced(dir.path('config.json'), `${JSON.stringify(withDType(config, this.dtype), null, 2)}\n`)
        files.push('config.json')
      }
      if (this.opts.baseDir) {
        for (const f of PROCESSOR_FILES) {
          const src = join(this.opts.baseDir, f)
          if (!(await stat(src).then((s) => s.isFile(), () => false))) continue
          await copyFile(src, dir.path(f))
          await syncFile(dir.path(f))
          files.push(f)
        }
      }
      if (this.opts.card) {
        await writeSynced(dir.path('README.md'), renderModelCard(this.opts.card, basename(this.outDir)))
        files.push('README.md')
      }
      if (this.opts.recipeYaml !== undefined) {
        await writeSynced(dir.path(RECIPE_FILE), this.opts.recipeYaml.endsWith('\n') ? this.opts.recipeYaml : `${this.opts.recipeYaml}\n`)
        files.push(RECIPE_FILE)
      }
      for (const [name, text] of Object.entries(this.opts.extraFiles ?? {})) {
        if (name !== basename(name) || name.startsWith('.') || files.includes(name)) {
          throw new AmalgamError('BAD_PARAM', `${this.outDir}: extra file name "${name}" must be a plain file name not already used by the export`)
        }
        await writeSynced(dir.path(name), text)
        files.push(name)
      }
      await dir.commit()
      this.state = 'committed'
      result = { outDir: this.outDir, files, shards: this.shards.length, dtype: this.dtype, totalSize, totalParameters }
    })
    return result
  }

  /** Drop everything written so far; the output folder is never created. Safe to call repeatedly. */
  async abort(): Promise<void> {
    if (this.state === 'committed') return
    this.state = 'aborted'
    const opening = this.opening
    for (const s of this.shards) if (s.writer) await s.writer.then((w) => w.abort(), () => undefined)
    const dir = this.dir ?? (opening ? await opening.catch(() => null) : null)
    await dir?.abort()
  }
}

/**
 * Provenance strings for safetensors `__metadata__` (formats.md §6.4): the SHA-256 of every input
 * file, JSON-encoded under `amalgam_inputs` (metadata values must be strings). Reads every input
 * file once, so callers run it as part of the job, with its cancel signal.
 */
export async function provenanceMetadata(inputFiles: readonly string[], ctx?: TaskCtx): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {}
  for (const [i, f] of inputFiles.entries()) {
    throwIfCancelled(ctx, 'hashing inputs')
    ctx?.progress?.('hash', i / inputFiles.length, f)
    hashes[f] = await sha256File(f, ctx?.signal)
  }
  return { amalgam_inputs: JSON.stringify(hashes) }
}

/** Reject NaN/Inf (and, for F16, finite values beyond ±65504) naming the tensor. */
function checkFinite(name: string, data: Float32Array, out: FloatEncodeDType): void {
  const i = firstNonFinite(data)
  if (i >= 0) throw new AmalgamError('BAD_PARAM', `tensor "${name}" has a non-finite value (${data[i]}) at index ${i}; refusing to export a broken model`)
  if (out === 'F16') {
    const j = f16Overflow(data)
    if (j >= 0) throw new AmalgamError('BAD_PARAM', `tensor "${name}" value ${data[j]} at index ${j} is outside the F16 range ±65504; export as bf16 or f32`)
  }
}

function encodeChecked(name: string, data: Float32Array, out: FloatEncodeDType): Uint8Array {
  checkFinite(name, data, out)
  return encodeFromF32(data, out)
}

/** config.json with the dtype key set (`dtype`, and `torch_dtype` where the original had it; nested *_config too). */
export function withDType(config: Record<string, unknown>, dtype: FloatOutDType): Record<string, unknown> {
  const name = TORCH_DTYPE[dtype]
  const fix = (c: Record<string, unknown>, top: boolean): Record<string, unknown> => {
    const o: Record<string, unknown> = { ...c }
    if (top || 'dtype' in o) o.dtype = name
    if ('torch_dtype' in o) o.torch_dtype = name
    for (const [k, v] of Object.entries(o)) {
      if (k.endsWith('_config') && v && typeof v === 'object' && !Array.isArray(v) && ('dtype' in v || 'torch_dtype' in v)) o[k] = fix(v as Record<string, unknown>, false)
    }
    return o
  }
  return fix(config, true)
}

async function readBaseConfig(baseDir: string): Promise<Record<string, unknown> | undefined> {
  const p = join(baseDir, 'config.json')
  let text: string
  try { text = await readFile(p, 'utf8') } catch { return undefined }
  try {
    const v = JSON.parse(text) as unknown
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>
  } catch { /* fall through */ }
  throw new AmalgamError('BAD_FILE', `${p}: invalid config.json`)
}

async function writeSynced(path: string, text: string): Promise<void> {
  const fh = await open(path, 'wx')
  try { await fh.writeFile(text); await fh.sync() } finally { await fh.close() }
}

async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r+')
  try { await fh.sync() } finally { await fh.close() }
}

export interface ExportModelOptions extends Omit<HfExportOptions, 'plan'> {
  /** defaults to every tensor of the source */
  plan?: TensorMeta[]
  ctx?: TaskCtx
}

/** Stream a whole TensorSource through an HfFolderWriter (cancellable between tensors). */
export async function exportModel(source: TensorSource, opts: ExportModelOptions): Promise<HfExportResult> {
  const { ctx, ...rest } = opts
  const plan = opts.plan ?? source.names().map((n) => source.meta(n))
  const w = new HfFolderWriter({ ...rest, plan })
  try {
    await copyTensors(source, w, plan, ctx)
    throwIfCancelled(ctx, 'export')
    return await w.commit()
  } catch (e) {
    await w.abort()
    throw e
  }
}

/**
 * Write the plan's tensors of `source` into `writer` without committing it: raw bytes where no
 * conversion is needed, otherwise through f32. `progress` maps the fraction done (default: the
 * 'export' stage of ctx), so several models written in a row can report one overall fraction.
 */
export async function copyTensors(source: TensorSource, writer: HfFolderWriter, plan: readonly TensorMeta[], ctx?: TaskCtx,
  progress: (fraction: number, tensor: string) => void = (f, n) => ctx?.progress?.('export', f, n)): Promise<void> {
  const outSt = outDTypeToSafetensors(writer.dtype)
  for (const [i, m] of plan.entries()) {
    throwIfCancelled(ctx, 'export')
    if (!isFloat(m.dtype) || m.dtype === outSt) await writer.writeRaw(m.name, m, await source.readRaw(m.name))
    else await writer.write(m.name, m.shape, await source.readF32(m.name))
    progress((i + 1) / plan.length, m.name)
    if (i % 16 === 15) await tick()
  }
}
