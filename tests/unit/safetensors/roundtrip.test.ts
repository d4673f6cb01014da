import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { DType } from '#common/types'
import { openSafetensors } from '../../../main/engine/safetensors/reader'
import { SafetensorsStreamWriter, writeSafetensors, type TensorToWrite } from '../../../main/engine/safetensors/writer'
import { buildHeader } from '../../../main/engine/safetensors/header'
import { decodeToF32, DTYPE_BYTES, encodeFromF32 } from '../../../main/engine/safetensors/dtype'
import { makeTempDir, rng } from '../../fixtures/make-tiny-checkpoints'

let dir: string
beforeAll(async () => { dir = await makeTempDir('amalgam-st-') })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const ALL: DType[] = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed)
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256)
  return b
}

describe('safetensors round trip', () => {
  it('writes and re-reads every dtype byte for byte, with metadata, 0-rank and empty tensors', async () => {
    const tensors = new Map<string, TensorToWrite>()
    ALL.forEach((dt, i) => {
      const shape = [3, 5 + i] // out ≠ in
      const n = shape[0] * shape[1] * DTYPE_BYTES[dt]
      let data = randomBytes(n, i + 1)
      if (dt === 'BOOL') data = data.map((v) => v & 1)
      tensors.set(`t.${dt.toLowerCase()}`, { dtype: dt, shape, data })
    })
    tensors.set('scalar', { dtype: 'F32', shape: [], data: new Float32Array([2.5]) })
    tensors.set('empty', { dtype: 'F16', shape: [0, 4], data: new Uint8Array(0) })
    const p = join(dir, 'all.safetensors')
    const metadata = { format: 'pt', note: 'round trip', recipe: JSON.stringify({ a: 1 }) }
    await writeSafetensors(p, tensors, metadata)

    const f = await openSafetensors(p)
    try {
      expect(f.metadata).toEqual(metadata)
      expect(f.names()).toEqual([...tensors.keys()].sort())
      for (const [name, t] of tensors) {
        const e = f.tensors.get(name)!
        expect(e.dtype).toBe(t.dtype)
        expect(e.shape).toEqual(t.shape)
        const raw = await f.readRaw(name)
        const want = t.data instanceof Float32Array ? new Uint8Array(t.data.buffer) : t.data
        expect(Buffer.from(raw).equals(Buffer.from(want))).toBe(true)
        if (['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) {
          const a = await f.readF32(name)
          const b = decodeToF32(want, t.dtype)
          expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true)
        } else {
          await expect(f.readF32(name)).rejects.toThrow(new RegExp(`${p}: tensor "${name.replace('.', '\\.')}" is ${t.dtype}`))
        }
      }
      expect(await f.readF32('scalar')).toEqual(new Float32Array([2.5]))
      expect((await f.readRaw('empty')).byteLength).toBe(0)
      // the file is exactly 8 + N + data: no trailing bytes
      const last = Math.max(...[...f.tensors.values()].map((e) => e.end))
      expect((await stat(p)).size).toBe(f.dataStart + last)
      await expect(f.readRaw('nope')).rejects.toThrow(/no tensor named "nope"/)
    } finally {
      await f.close()
    }
  })

  it('readF32Into / readRawInto fill a reused, larger buffer', async () => {
    const p = join(dir, 'into.safetensors')
    const a = new Float32Array([1.5, -2, 3.25])
    const b = new Float32Array([7, 8])
    await writeSafetensors(p, new Map<string, TensorToWrite>([
      ['a', { dtype: 'BF16', shape: [3], data: a }], ['b', { dtype: 'F16', shape: [2], data: b }], ['c', { dtype: 'F32', shape: [2], data: b }],
    ]))
    const f = await openSafetensors(p)
    const out = new Float32Array(8).fill(99)
    expect([...(await f.readF32Into('a', out))]).toEqual([1.5, -2, 3.25])
    expect([...(await f.readF32Into('b', out))]).toEqual([7, 8])
    expect([...out.subarray(0, 4)]).toEqual([7, 8, 3.25, 99])
    expect([...(await f.readF32Into('c', out.subarray(2)))]).toEqual([7, 8])
    await expect(f.readF32Into('a', new Float32Array(2))).rejects.toThrow(/tensor "a" has 3 values, output buffer holds 2/)
    const raw = new Uint8Array(16)
    expect((await f.readRawInto('c', raw)).byteLength).toBe(8)
    await expect(f.readRawInto('c', new Uint8Array(4))).rejects.toThrow(/needs 8 bytes/)
    await f.close()
    await expect(f.readRaw('a')).rejects.toThrow(/file is closed/)
  })

  it('lays tensors out by descending dtype rank then name, contiguous from 0', async () => {
    const plan = ALL.map((dt, i) => ({ name: `z${9 - i}`, dtype: dt, shape: [2] }))
    const { layout } = buildHeader(plan, undefined)
    expect(layout.map((t) => t.dtype)).toEqual(['I64', 'F64', 'F32', 'I32', 'BF16', 'F16', 'I16', 'I8', 'U8', 'BOOL'])
    let off = 0
    for (const t of layout) { expect(t.begin).toBe(off); off = t.end }
    const same = buildHeader([{ name: 'b', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F32', shape: [1] }], undefined)
    expect(same.layout.map((t) => t.name)).toEqual(['a', 'b'])
  })

  it('reproduces the worked example of formats.md §1.1 byte for byte', async () => {
    const p = join(dir, 'example.safetensors')
    await writeSafetensors(p, new Map<string, TensorToWrite>([
      ['vision_model.embeddings.class_embedding', { dtype: 'F16', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }],
      ['vision_model.post_layernorm.bias', { dtype: 'F32', shape: [4], data: new Float32Array([0.5, -1, 2, 8]) }],
    ]), { format: 'pt' })
    const bytes = await readFile(p)
    const json = '{"__metadata__":{"format":"pt"},"vision_model.post_layernorm.bias":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"vision_model.embeddings.class_embedding":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]}}'
    expect(json.length).toBe(212)
    expect([...bytes.subarray(0, 8)]).toEqual([0xd8, 0, 0, 0, 0, 0, 0, 0])
    expect(bytes.subarray(8, 8 + 216).toString('utf8')).toBe(`${json}    `)
    expect(bytes.length).toBe(8 + 216 + 24)
    expect([...new Float32Array(bytes.buffer.slice(bytes.byteOffset + 224, bytes.byteOffset + 240))]).toEqual([0.5, -1, 2, 8])
    expect([...new Uint16Array(bytes.buffer.slice(bytes.byteOffset + 240, bytes.byteOffset + 248))]).toEqual([0x3c00, 0x4000, 0x4200, 0x4400])
  })

  it('matches the reference writer byte vectors (safetensors tensor.rs tests)', async () => {
    const p = join(dir, 'rs.safetensors')
    await writeSafetensors(p, new Map([['attn.0', { dtype: 'F32' as DType, shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]]))
    expect([...(await readFile(p))]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ])
    const e = join(dir, 'empty.safetensors')
    await writeSafetensors(e, new Map())
    expect([...(await readFile(e))]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
    await writeSafetensors(e, new Map(), { framework: 'pt' })
    expect([...(await readFile(e))]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
      95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
      116, 34, 125, 125, 32, 32, 32, 32, 32,
    ])
    const f = await openSafetensors(e)
    expect(f.metadata).toEqual({ framework: 'pt' })
    expect(f.tensors.size).toBe(0)
    await f.close()
  })

  it('streams tensors in plan order into a temp file and renames on commit', async () => {
    const p = join(dir, 'stream.safetensors')
    const plan = [
      { name: 'w', dtype: 'BF16' as DType, shape: [4, 3] },
      { name: 'ids', dtype: 'I64' as DType, shape: [1, 3] },
      { name: 'b', dtype: 'F32' as DType, shape: [4] },
    ]
    const w = await SafetensorsStreamWriter.create(p, plan, { format: 'pt' })
    const wv = new Float32Array(12).map((_, i) => i - 5.5)
    await w.write('w', encodeFromF32(wv, 'BF16'))
    expect(await readdir(dir)).not.toContain('stream.safetensors')
    await w.write('ids', new Uint8Array(new BigInt64Array([0n, 1n, 2n]).buffer))
    await expect(w.write('ids', new Uint8Array(24))).rejects.toThrow(/already written/)
    await expect(w.write('b', new Uint8Array(15))).rejects.toThrow(/"b" is F32\[4\] = 16 bytes, got 15/)
    await w.write('b', encodeFromF32(new Float32Array([1, 2, 3, 4]), 'F32'))
    await w.commit()
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([])
    const f = await openSafetensors(p)
    expect([...(await f.readF32('w'))]).toEqual([...wv])
    expect([...new BigInt64Array((await f.readRaw('ids')).slice().buffer)]).toEqual([0n, 1n, 2n])
    await f.close()
  })

  it('abort and an incomplete commit leave no file and no temp', async () => {
    const p = join(dir, 'aborted.safetensors')
    const plan = [{ name: 'a', dtype: 'F32' as DType, shape: [2] }, { name: 'b', dtype: 'F32' as DType, shape: [2] }]
    const w = await SafetensorsStreamWriter.create(p, plan)
    await w.write('a', new Uint8Array(8))
    await w.abort()
    const w2 = await SafetensorsStreamWriter.create(p, plan)
    await w2.write('a', new Uint8Array(8))
    await expect(w2.commit()).rejects.toThrow(/never written: "b"/)
    expect((await readdir(dir)).filter((n) => n.startsWith('aborted'))).toEqual([])
  })

  it('refuses non-string metadata and duplicate names when writing', async () => {
    const p = join(dir, 'bad-write.safetensors')
    await expect(writeSafetensors(p, new Map(), { n: 3 as unknown as string })).rejects.toThrow(/__metadata__ value for key "n" is a number/)
    expect(() => buildHeader([{ name: 'x', dtype: 'F32', shape: [1] }, { name: 'x', dtype: 'F32', shape: [1] }], undefined)).toThrow(/"x" is listed twice/)
  })
})

describe('sampleBlocks', () => {
  for (const dtype of ['F32', 'BF16', 'F16'] as const) {
    it(`${dtype}: the file's block sample equals the one of the decoded tensor (native mapping and JS), too small a buffer refused`, async () => {
      const { sampleBlocksOf, blockLayout } = await import('../../../main/engine/tensors/block-sample')
      const { availableKernelImplementations, useKernelImplementation } = await import('../../../main/engine/kernels/native-kernels')
      const path = join(dir, `blocks-${dtype}.safetensors`)
      const values = Float32Array.from({ length: 2600 }, (_, i) => (i - 1300) / 64)
      const w = await SafetensorsStreamWriter.create(path, [{ name: 'x', dtype, shape: [26, 100] }, { name: 'y', dtype, shape: [3] }])
      await w.write('y', encodeFromF32(Float32Array.of(1, 2, 3), dtype))
      await w.write('x', encodeFromF32(values, dtype))
      await w.commit()
      const f = await openSafetensors(path)
      const whole = await f.readF32('x')
      const spec = { block: 256, runs: 4, run: 8, seed: 5 }
      const { total } = blockLayout(2600, spec)
      const want = new Float32Array(total)
      sampleBlocksOf(whole, spec, want)
      expect(total).toBe(10 * 32 + 40)
      for (const impl of availableKernelImplementations()) {
        useKernelImplementation(impl)
        const out = new Float32Array(total)
        f.sampleBlocks('x', spec, out)
        expect([...out], impl).toEqual([...want])
        expect(() => f.sampleBlocks('x', spec, new Float32Array(total - 1)), impl).toThrow(/block sample of "x" needs 360 values/)
        useKernelImplementation('auto')
      }
      await f.close()
    })
  }
})
