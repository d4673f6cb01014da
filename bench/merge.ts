// npm run bench:merge — merge throughput on a synthetic ViT-B/32-sized pool (1 base + 8 models,
// 87,456,000 f32 parameters each, HF CLIP vision names and shapes, methods.md §0.3), written to
// disk through HfFolderWriter, beside the I/O floor (reading the 9 inputs once).
//
// Each measurement runs in its own child process so that its peak RSS (getrusage maxrss) is its
// own. The pool is generated once under bench/.cache/ (≈ 3.2 GB; gitignored).
//   tsx bench/merge.ts                 generate if needed, run everything, print the table
//   tsx bench/merge.ts --layers 2      a smaller model (2 encoder blocks) for a quick check
//   tsx bench/merge.ts --only ties_merging        (also its second, cached run; --only ties_merging:cached for that alone)
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SafetensorsStreamWriter } from '../main/engine/safetensors/writer'
import { openModel, type ModelSource } from '../main/engine/checkpoints/open'
import { HfFolderWriter } from '../main/engine/checkpoints/export'
import { runMerge } from '../main/engine/merge/run'
import type { TensorMeta, TensorSource } from '../main/engine/tensors/source'
import { cacheKey, diskMergeCache } from '../main/engine/merge/cache'
import { ContentCache } from '../main/engine/workspace/cache'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const argv = process.argv.slice(2)
const arg = (k: string): string | undefined => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined }
const LAYERS = Number(arg('--layers') ?? 12)
const N_MODELS = 8
const CACHE = resolve(HERE, '.cache', `merge-pool-L${LAYERS}`)
const D = 768

function clipVisionPlan(layers: number): Array<{ name: string; shape: number[] }> {
  const p = (name: string, shape: number[]) => ({ name: `vision_model.${name}`, shape })
  const out = [
    p('embeddings.class_embedding', [D]),
    p('embeddings.patch_embedding.weight', [D, 3, 32, 32]),
    p('embeddings.position_embedding.weight', [50, D]),
    p('pre_layrnorm.weight', [D]), p('pre_layrnorm.bias', [D]),
    p('post_layernorm.weight', [D]), p('post_layernorm.bias', [D]),
  ]
  for (let l = 0; l < layers; l++) {
    const b = `encoder.layers.${l}.`
    for (const q of ['q', 'k', 'v', 'out']) out.push(p(`${b}self_attn.${q}_proj.weight`, [D, D]), p(`${b}self_attn.${q}_proj.bias`, [D]))
    out.push(p(`${b}layer_norm1.weight`, [D]), p(`${b}layer_norm1.bias`, [D]), p(`${b}layer_norm2.weight`, [D]), p(`${b}layer_norm2.bias`, [D]))
    out.push(p(`${b}mlp.fc1.weight`, [4 * D, D]), p(`${b}mlp.fc1.bias`, [4 * D]), p(`${b}mlp.fc2.weight`, [D, 4 * D]), p(`${b}mlp.fc2.bias`, [D]))
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1))
}

/** xorshift128+-based approximate normals (sum of 2 uniforms, cheap; the values only need to look like weights) */
function fill(out: Float32Array, seed: number, scale: number, base?: Float32Array): void {
  let s0 = (seed * 0x9e3779b1) >>> 0 || 1, s1 = (seed * 0x85ebca6b + 0x632be5ab) >>> 0 || 2
  for (let i = 0; i < out.length; i++) {
    let x = s0, y = s1
    s0 = y; x ^= x << 23; x ^= x >>> 17; x ^= y ^ (y >>> 26); s1 = x >>> 0
    const u = ((s0 + s1) >>> 0) / 4294967296
    s0 ^= s0 << 13; s0 ^= s0 >>> 17; s0 ^= s0 << 5; s0 >>>= 0
    const v = s0 / 4294967296
    out[i] = (base ? base[i] : 0) + (u + v - 1) * scale
  }
}

async function generate(): Promise<void> {
  const plan = clipVisionPlan(LAYERS)
  const params = plan.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0)
  const dirs = ['base', ...Array.from({ length: N_MODELS }, (_, i) => `model${i + 1}`)]
  if (dirs.every((d) => existsSync(join(CACHE, d, 'model.safetensors')))) return
  console.log(`generating ${dirs.length} models × ${params.toLocaleString()} f32 parameters under ${CACHE} …`)
  mkdirSync(CACHE, { recursive: true })
  const config = { architectures: ['CLIPVisionModel'], model_type: 'clip_vision_model', hidden_size: D, num_hidden_layers: LAYERS, torch_dtype: 'float32' }
  for (const [m, dir] of dirs.entries()) {
    mkdirSync(join(CACHE, dir), { recursive: true })
    writeFileSync(join(CACHE, dir, 'config.json'), JSON.stringify(config))
    const w = await SafetensorsStreamWriter.create(join(CACHE, dir, 'model.safetensors'), plan.map((t) => ({ ...t, dtype: 'F32' as const })))
    for (const [i, t] of plan.entries()) {
      const n = t.shape.reduce((a, b) => a * b, 1)
      const base = new Float32Array(n)
      fill(base, 1000 + i, 0.04)
      let data = base
      if (m > 0) { data = new Float32Array(n); fill(data, m * 7919 + i, 0.002, base) }
      await w.write(t.name, new Uint8Array(data.buffer))
    }
    await w.commit()
  }
}

/** A view of a model restricted to some tensors (DogeTA's per-layer extrapolation). */
class Subset implements TensorSource {
  readonly label: string
  private readonly keep: string[]
  constructor(private readonly src: ModelSource, filter: (n: string) => boolean) { this.label = src.label; this.keep = src.names().filter(filter) }
  names(): string[] { return [...this.keep] }
  has(n: string): boolean { return this.keep.includes(n) }
  meta(n: string): TensorMeta { return this.src.meta(n) }
  readF32(n: string): Promise<Float32Array> { return this.src.readF32(n) }
  readF32Into(n: string, out: Float32Array): Promise<Float32Array> { return this.src.readF32Into(n, out) }
  readRaw(n: string): Promise<Uint8Array> { return this.src.readRaw(n) }
}

interface Measure { name: string; seconds: number; maxRssBytes: number; note?: string }

/** Child-process body: one measurement, printed as JSON on the last line. */
async function child(what: string): Promise<void> {
  const dirs = ['base', ...Array.from({ length: N_MODELS }, (_, i) => `model${i + 1}`)]
  const models = await Promise.all(dirs.map((d) => openModel(join(CACHE, d))))
  let t0 = performance.now()
  let note: string | undefined
  if (what === 'floor') {
    for (const name of models[0].names()) {
      for (const m of models) { const meta = m.meta(name); if (meta.dtype === 'F32') await m.readF32(name); else await m.readRaw(name) }
    }
  } else {
    const [method, scope] = what.split(':')
    const filter = scope === 'layer0' ? (n: string) => n.includes('encoder.layers.0.') : () => true
    const pool = scope === 'layer0' ? { base: new Subset(models[0], filter), models: models.slice(1).map((m) => new Subset(m, filter)) } : { base: models[0], models: models.slice(1) }
    const out = join(CACHE, `out-${method}`)
    const plan = pool.base.names().map((n) => pool.base.meta(n))
    const params: Record<string, unknown> = {}
    if (scope === 'layer0' && arg('--steps')) params.steps = arg('--steps')
    // 'cached': a second run on the same pool with a merge cache (the sweep case: the first run,
    // untimed, fills a fresh on-disk cache; the timed run changes only the scale parameter)
    let cache
    if (scope === 'cached') {
      rmSync(join(CACHE, 'merge-cache'), { recursive: true, force: true })
      const keys = { base: cacheKey('bench-base', LAYERS), models: Array.from({ length: N_MODELS }, (_, i) => cacheKey('bench-model', LAYERS, i)) }
      cache = diskMergeCache(new ContentCache(join(CACHE, 'merge-cache')), keys)
      const warm = new HfFolderWriter({ outDir: out, baseDir: join(CACHE, 'base'), plan, overwrite: true })
      await runMerge({ method, pool, sink: warm, params, cache })
      await warm.commit()
      params[method === 'tsvm' ? 'alpha' : 'scaling_factor'] = 0.5
      t0 = performance.now()
    }
    const sink = new HfFolderWriter({ outDir: out, baseDir: join(CACHE, 'base'), plan, overwrite: true })
    const res = await runMerge({ method, pool, sink, params, cache })
    if (cache) note = `cache: ${JSON.stringify((res.diagnostics.cache as { hits: number }).hits)} hit(s), passes ${res.diagnostics.passes ?? '—'}, SVD merges from cache ${res.diagnostics.svdFromCache ?? '—'}`
    await sink.commit()
    const per = (res.diagnostics.perTensor ?? {}) as Record<string, { subspaceSeconds?: number; optimiseSeconds?: number }>
    const timed = Object.entries(per).filter(([, v]) => v.optimiseSeconds !== undefined)
    if (timed.length) {
      // per-tensor split (DogeTA): shared-subspace SVDs + optimisation steps, grouped by shape
      const byShape = new Map<string, number[]>()
      for (const [n, v] of timed) { const k = pool.base.meta(n).shape.join('×'); byShape.set(k, [...(byShape.get(k) ?? []), (v.subspaceSeconds ?? 0) + v.optimiseSeconds!]) }
      note = [...byShape].map(([k, t]) => `${k}: ${(t.reduce((a, b) => a + b, 0) / t.length).toFixed(1)} s/tensor`).join(', ')
      const sub = timed.reduce((a, [, v]) => a + (v.subspaceSeconds ?? 0), 0)
      note += ` (SVDs ${sub.toFixed(1)} s of ${timed.reduce((a, [, v]) => a + (v.subspaceSeconds ?? 0) + v.optimiseSeconds!, 0).toFixed(1)} s)`
    }
    rmSync(out, { recursive: true, force: true })
  }
  const seconds = (performance.now() - t0) / 1000
  const m: Measure = { name: what, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, note }
  console.log(JSON.stringify(m))
}

function measure(what: string, extra: string[] = []): Measure {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', what, '--layers', String(LAYERS), ...extra], { encoding: 'utf8', maxBuffer: 1 << 26 })
  if (r.status !== 0) throw new Error(`${what} failed:\n${r.stderr}\n${r.stdout}`)
  const last = r.stdout.trim().split('\n').pop()!
  return JSON.parse(last) as Measure
}

async function main(): Promise<void> {
  const childWhat = arg('--child')
  if (childWhat) return child(childWhat)
  await generate()
  const plan = clipVisionPlan(LAYERS)
  const modelBytes = plan.reduce((a, t) => a + 4 * t.shape.reduce((x, y) => x * y, 1), 0)
  const only = arg('--only')
  const rows: Array<Measure & { ratio?: string; goal?: string }> = []
  measure('floor') // warm the page cache
  const floor = measure('floor')
  rows.push({ ...floor, name: 'I/O floor: read 9 models once' })
  const methods: Array<[string, string]> = [['task_arithmetic', '≤ 1.5× floor'], ['ties_merging', '≤ 3× floor'], ['tsvm', '—']]
  for (const [m, goal] of methods) {
    if (only && only !== m) continue
    const r = measure(m)
    rows.push({ ...r, ratio: `${(r.seconds / floor.seconds).toFixed(2)}×`, goal })
  }
  for (const [m, goal] of [['ties_merging:cached', '—'], ['tsvm:cached', '—']] as const) {
    if (only && only !== m.split(':')[0] && only !== m) continue
    const r = measure(m)
    rows.push({ ...r, name: `${m.split(':')[0]}, second run on the pool with a merge cache (λ/α sweep)`, ratio: `${(r.seconds / floor.seconds).toFixed(2)}×`, goal })
  }
  if (!only || only === 'doge_ta') {
    // DogeTA: 400 projected Adam steps per filtered weight; measured on encoder block 0 (its 6
    // filtered weights, 400 steps) and extrapolated: total ≈ 3 read passes + LAYERS × block time.
    const d0 = measure('doge_ta:layer0')
    const est = 3 * floor.seconds + LAYERS * d0.seconds
    rows.push({ ...d0, name: 'doge_ta, encoder block 0 only (400 steps)', goal: '—' })
    rows.push({ name: `doge_ta, estimate for ${LAYERS} blocks (3 passes + ${LAYERS} × block 0)`, seconds: est, maxRssBytes: d0.maxRssBytes, ratio: `${(est / floor.seconds).toFixed(1)}×`, goal: '—' })
  }
  const gb = (b: number) => (b / 2 ** 30).toFixed(2)
  console.log(`\nmerge benchmark: ${N_MODELS} models + base, ${LAYERS} blocks, ${(modelBytes / 1e6).toFixed(0)} MB f32 per model, output f32 via HfFolderWriter (page cache warm)`)
  console.log('| run | seconds | × floor | goal | peak RSS GiB | × one model (goal < 3×) | note |')
  console.log('|---|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.name} | ${r.seconds.toFixed(2)} | ${r.ratio ?? (r.goal ? '—' : '1.00×')} | ${r.goal ?? 'ceiling'} | ${gb(r.maxRssBytes)} | ${(r.maxRssBytes / modelBytes).toFixed(2)}× | ${r.note ?? ''} |`)
  console.log('\nreference (methods.md §29, FusionBench on PyTorch, 2-core CPU): TA ≈ 5.5 s / 2.2 GB peak, TIES ≈ 100 s / 21 GB peak')
}

await main()
