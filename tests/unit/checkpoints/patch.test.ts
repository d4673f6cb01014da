// TensorSink.patch on the HF folder writer: entries of tensors already written are overwritten in
// place before commit (runs of consecutive indices and scattered ones, across shards, f32 and
// bf16), the committed folder reads back patched, and bad patches are refused naming the tensor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HfFolderWriter } from '../../../main/engine/checkpoints/export'
import { openModel } from '../../../main/engine/checkpoints/open'
import { decodeToF32, encodeFromF32 } from '../../../main/engine/safetensors/dtype'
import type { TensorMeta } from '../../../main/engine/tensors/source'

let dir = ''
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'amalgam-patch-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const plan: TensorMeta[] = [
  { name: 'a.weight', shape: [4, 6], dtype: 'F32' },
  { name: 'b.bias', shape: [5], dtype: 'F32' },
]
const data = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => i * 0.25 + k)

describe('HfFolderWriter.patch', () => {
  for (const dtype of ['f32', 'bf16'] as const) {
    it(`${dtype}: patched entries read back, the rest untouched (two shards)`, async () => {
      const out = join(dir, `m-${dtype}`)
      const w = new HfFolderWriter({ outDir: out, plan, dtype, shardBytes: 64 })
      const a = data(24, 1), b = data(5, -3)
      await w.write('a.weight', [4, 6], a)
      await w.write('b.bias', [5], b)
      const idx = Uint32Array.of(23, 3, 4, 5, 0, 17), vals = Float32Array.of(-1, 10, 11, 12, 7.5, 99)
      await w.patch('a.weight', idx, vals)
      await w.patch('b.bias', Uint32Array.of(4), Float32Array.of(42))
      await w.commit()
      const m = await openModel(out)
      const round = (x: Float32Array) => (dtype === 'bf16' ? decodeToF32(encodeFromF32(x, 'BF16'), 'BF16') : x)
      const wantA = Float32Array.from(a); idx.forEach((k, i) => { wantA[k] = vals[i] })
      const wantB = Float32Array.from(b); wantB[4] = 42
      expect([...(await m.readF32('a.weight'))]).toEqual([...round(wantA)])
      expect([...(await m.readF32('b.bias'))]).toEqual([...round(wantB)])
      await m.close?.()
    })
  }

  it('refuses a patch of an unwritten tensor, out of range, or non-finite, and leaves no folder', async () => {
    const out = join(dir, 'bad')
    const w = new HfFolderWriter({ outDir: out, plan })
    await expect(w.patch('a.weight', Uint32Array.of(0), Float32Array.of(1))).rejects.toThrow(/"a.weight" is patched before it was written/)
    const w2 = new HfFolderWriter({ outDir: out, plan })
    await w2.write('a.weight', [4, 6], data(24, 0))
    await expect(w2.patch('a.weight', Uint32Array.of(24), Float32Array.of(1))).rejects.toThrow(/"a.weight" reaches element 24 of 24/)
    const w3 = new HfFolderWriter({ outDir: out, plan })
    await w3.write('a.weight', [4, 6], data(24, 0))
    await expect(w3.patch('a.weight', Uint32Array.of(2), Float32Array.of(NaN))).rejects.toThrow(/a\.weight/)
    await expect(openModel(out)).rejects.toThrow()
  })
})

describe('merging into an HF folder (patched, recycled output arrays) equals merging into memory', () => {
  for (const method of ['ties_merging', 'task_arithmetic', 'dare_ties_merging']) {
    it(method, async () => {
      const { runMerge } = await import('../../../main/engine/merge/run')
      const { MemorySink, MemorySource } = await import('../../../main/engine/tensors/source')
      const shapes: Record<string, number[]> = { 'l.0.w': [8, 12], 'l.0.b': [8], 'l.1.w': [12, 8], 'l.2.w': [5, 7] }
      let seed = 1
      const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32 - 0.5 }
      const model = () => new MemorySource(new Map(Object.entries(shapes).map(([n, s]) => [n, { shape: s, data: Float32Array.from({ length: s[0] * (s[1] ?? 1) }, rnd) }])))
      const pool = { base: model(), models: [model(), model(), model()] }
      const mem = new MemorySink()
      await runMerge({ method, pool, sink: mem, seed: 3 })
      const out = join(dir, `merged-${method}`)
      const w = new HfFolderWriter({ outDir: out, plan: Object.entries(shapes).map(([name, shape]) => ({ name, shape, dtype: 'F32' as const })) })
      await runMerge({ method, pool, sink: w, seed: 3 })
      await w.commit()
      const m = await openModel(out)
      for (const n of Object.keys(shapes)) expect([...(await m.readF32(n))], n).toEqual([...mem.tensors.get(n)!.data])
      await m.close?.()
    })
  }
})

describe('HfFolderWriter.patch, unordered and repeated indices', () => {
  it('the last value of a repeated index wins, through the mapped (native) and the read-back (JS) paths', async () => {
    const { availableKernelImplementations, useKernelImplementation } = await import('../../../main/engine/kernels/native-kernels')
    for (const impl of availableKernelImplementations()) {
      useKernelImplementation(impl)
      try {
        const out = join(dir, `dup-${impl}`)
        const big: TensorMeta[] = [{ name: 'w', shape: [50, 100], dtype: 'F32' }]
        const w = new HfFolderWriter({ outDir: out, plan: big })
        const base = data(5000, 0)
        await w.write('w', [50, 100], base)
        // scattered over several pages, out of order, 4000 twice
        const idx = Uint32Array.of(4999, 7, 4000, 1, 2, 3000, 4000, 2048)
        const vals = Float32Array.of(-1, -2, -3, -4, -5, -6, -7, -8)
        await w.patch('w', idx, vals)
        await w.commit()
        const want = Float32Array.from(base)
        idx.forEach((k, i) => { want[k] = vals[i] })
        const m = await openModel(out)
        expect([...(await m.readF32('w'))], impl).toEqual([...want])
        await m.close?.()
      } finally { useKernelImplementation('auto') }
    }
  })
})
