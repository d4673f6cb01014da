// Checkpoint read throughput against the floor: the time `cat FILE > /dev/null` takes to stream the
// same file from the (warm) page cache. Two 1 GiB files of ViT-like tensors, F32 and BF16, are made
// once under bench/.cache/. For each: our raw per-tensor reads and our read+decode-to-f32, best of
// 3, as GB/s and as a ratio to the floor (goal ≤ 1.5×).
//   npm run bench:io            (add --rebuild to recreate the cached files)
import { spawnSync } from 'node:child_process'
import { mkdir, stat } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cpus } from 'node:os'
import type { DType } from '#common/types'
import { openSafetensors, type SafetensorsFile } from '../main/engine/safetensors/reader'
import { SafetensorsStreamWriter, type PlannedTensor } from '../main/engine/safetensors/writer'
import { encodeFromF32, DTYPE_BYTES } from '../main/engine/safetensors/dtype'

const GiB = 1 << 30
const CACHE = join(dirname(fileURLToPath(import.meta.url)), '.cache')
const REPEATS = 3

/** ViT-L/14-like blocks (D = 1024, MLP 4096) until the file holds `bytes` of tensor data. */
function vitPlan(dtype: DType, bytes: number): PlannedTensor[] {
  const D = 1024
  const plan: PlannedTensor[] = [
    { name: 'vision_model.embeddings.class_embedding', dtype, shape: [D] },
    { name: 'vision_model.embeddings.patch_embedding.weight', dtype, shape: [D, 3, 14, 14] },
    { name: 'vision_model.embeddings.position_embedding.weight', dtype, shape: [257, D] },
  ]
  const size = (): number => plan.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype], 0)
  const block = (l: number): PlannedTensor[] => {
    const b = `vision_model.encoder.layers.${l}`
    const out: PlannedTensor[] = []
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) out.push({ name: `${b}.self_attn.${p}.weight`, dtype, shape: [D, D] }, { name: `${b}.self_attn.${p}.bias`, dtype, shape: [D] })
    out.push({ name: `${b}.mlp.fc1.weight`, dtype, shape: [4 * D, D] }, { name: `${b}.mlp.fc1.bias`, dtype, shape: [4 * D] })
    out.push({ name: `${b}.mlp.fc2.weight`, dtype, shape: [D, 4 * D] }, { name: `${b}.mlp.fc2.bias`, dtype, shape: [D] })
    for (const n of ['layer_norm1', 'layer_norm2']) out.push({ name: `${b}.${n}.weight`, dtype, shape: [D] }, { name: `${b}.${n}.bias`, dtype, shape: [D] })
    return out
  }
  const blockBytes = block(0).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype], 0)
  for (let l = 0; size() + blockBytes <= bytes; l++) plan.push(...block(l))
  const rest = (bytes - size()) / DTYPE_BYTES[dtype]
  if (rest > 0) plan.push({ name: 'vision_model.post_layernorm.filler', dtype, shape: [rest] })
  return plan
}

/** Deterministic small values (xorshift), like trained weights in range. */
function fill(out: Float32Array, seed: number): void {
  let x = seed >>> 0 || 1
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    out[i] = (x / 4294967296 - 0.5) * 0.04
  }
}

async function ensureFile(dtype: 'F32' | 'BF16', rebuild: boolean): Promise<{ path: string; writeSeconds: number | null }> {
  const path = join(CACHE, `io-${dtype.toLowerCase()}-1GiB.safetensors`)
  if (!rebuild) {
    const s = await stat(path).catch(() => null)
    if (s && s.size > GiB) return { path, writeSeconds: null }
  }
  await mkdir(CACHE, { recursive: true })
  const plan = vitPlan(dtype, GiB)
  const t0 = performance.now()
  const w = await SafetensorsStreamWriter.create(path, plan, { format: 'pt' })
  try {
    for (const [i, t] of w.layout.entries()) {
      const v = new Float32Array(t.shape.reduce((a, b) => a * b, 1))
      fill(v, i + 1)
      await w.write(t.name, encodeFromF32(v, dtype))
    }
    await w.commit()
  } catch (e) { await w.abort(); throw e }
  return { path, writeSeconds: (performance.now() - t0) / 1000 }
}

function catSeconds(path: string): number {
  const t0 = performance.now()
  const r = spawnSync('sh', ['-c', 'cat "$1" > /dev/null', 'sh', path])
  if (r.status !== 0) throw new Error(`cat failed: ${r.stderr}`)
  return (performance.now() - t0) / 1000
}

async function best(fn: () => Promise<void>): Promise<number> {
  let b = Infinity
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now()
    await fn()
    b = Math.min(b, (performance.now() - t0) / 1000)
  }
  return b
}

/** Run `fn` over the tensors in file order with at most `k` in flight. */
async function each(f: SafetensorsFile, k: number, fn: (name: string) => Promise<void>): Promise<void> {
  const order = [...f.tensors.entries()].sort((a, b) => a[1].begin - b[1].begin).map(([n]) => n)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(k, order.length) }, async () => {
    while (next < order.length) await fn(order[next++])
  }))
}

interface Row { label: string; seconds: number }

async function measure(path: string): Promise<{ bytes: number; cat: number; rows: Row[] }> {
  const bytes = (await stat(path)).size
  catSeconds(path) // warm the page cache
  let cat = Infinity
  for (let i = 0; i < REPEATS; i++) cat = Math.min(cat, catSeconds(path))
  const f = await openSafetensors(path)
  const rows: Row[] = []
  try {
    let sink = 0
    const largest = Math.max(...[...f.tensors.values()].map((t) => t.end - t.begin))
    const reuse = new Uint8Array(largest)
    rows.push({ label: 'raw, fresh buffer per tensor', seconds: await best(() => each(f, 1, async (n) => { sink += (await f.readRaw(n)).byteLength })) })
    rows.push({ label: 'raw, one reused buffer', seconds: await best(() => each(f, 1, async (n) => { sink += (await f.readRawInto(n, reuse)).byteLength })) })
    rows.push({ label: 'raw, 4 reads in flight', seconds: await best(() => each(f, 4, async (n) => { sink += (await f.readRaw(n)).byteLength })) })
    const out = new Float32Array(largest / DTYPE_BYTES[[...f.tensors.values()][0].dtype])
    rows.push({ label: 'read + decode, fresh f32 per tensor', seconds: await best(() => each(f, 1, async (n) => { sink += (await f.readF32(n)).length })) })
    rows.push({ label: 'read + decode into reused f32', seconds: await best(() => each(f, 1, async (n) => { sink += (await f.readF32Into(n, out)).length })) })
    if (sink === 0) throw new Error('nothing read')
  } finally { await f.close() }
  return { bytes, cat, rows }
}

const gbps = (bytes: number, s: number): string => (bytes / s / 1e9).toFixed(2)

async function main(): Promise<void> {
  const rebuild = process.argv.includes('--rebuild')
  console.log(`bench:io — Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), best of ${REPEATS}, warm page cache`)
  for (const dtype of ['F32', 'BF16'] as const) {
    const { path, writeSeconds } = await ensureFile(dtype, rebuild)
    const { bytes, cat, rows } = await measure(path)
    console.log('')
    console.log(`${dtype}: ${path} — ${(bytes / GiB).toFixed(3)} GiB${writeSeconds === null ? '' : `, created in ${writeSeconds.toFixed(1)} s with the streaming writer (${gbps(bytes, writeSeconds)} GB/s incl. value generation)`}`)
    const head = ['what', 'seconds', 'GB/s', '× floor']
    const table: string[][] = [['cat > /dev/null (floor)', cat.toFixed(3), gbps(bytes, cat), '1.00']]
    for (const r of rows) table.push([r.label, r.seconds.toFixed(3), gbps(bytes, r.seconds), (r.seconds / cat).toFixed(2)])
    const w = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)))
    const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ')
    console.log(line(head))
    console.log(w.map((n) => '-'.repeat(n)).join('  '))
    for (const r of table) console.log(line(r))
  }
  console.log('\nGB/s counts file bytes (1e9). Goal: our figures within 1.5× the cat floor.')
  console.log('"fresh" rows allocate a new buffer per tensor (readRaw/readF32): the kernel faults in and zeroes that memory,')
  console.log('and BF16 → f32 writes twice the file size. "reused" rows (readRawInto/readF32Into) show the cost without that.')
}

main().catch((e) => { console.error(e); process.exit(1) })
