// Every malformed-file rule of formats.md §1.3 and issue 2 is rejected with a message that names
// the file and, where one is at fault, the tensor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AmalgamError } from '#common/errors'
import { openSafetensors } from '../../../main/engine/safetensors/reader'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'

let dir: string
beforeAll(async () => { dir = await makeTempDir('amalgam-bad-') })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

/** A file from a header string (padded to 8 unless told) and a data buffer. */
async function raw(name: string, header: string, dataBytes: number, opts: { n?: bigint; pad?: boolean } = {}): Promise<string> {
  let h = Buffer.from(header, 'utf8')
  if (opts.pad !== false && h.length % 8) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), 0x20)])
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(opts.n ?? BigInt(h.length))
  const p = join(dir, name)
  await writeFile(p, Buffer.concat([len, h, Buffer.alloc(dataBytes)]))
  return p
}

async function rejects(p: string, ...patterns: RegExp[]): Promise<void> {
  let err: unknown
  try { const f = await openSafetensors(p); await f.close() } catch (e) { err = e }
  expect(err).toBeInstanceOf(AmalgamError)
  expect((err as AmalgamError).code).toBe('BAD_FILE')
  const msg = (err as Error).message
  expect(msg).toContain(p)
  for (const re of patterns) expect(msg).toMatch(re)
}

const t = (dtype: string, shape: number[], a: number, b: number): string => JSON.stringify({ dtype, shape, data_offsets: [a, b] })

describe('safetensors validation', () => {
  it('accepts a well-formed file (the helper itself is sound)', async () => {
    const p = await raw('ok.safetensors', `{"a":${t('F32', [2], 0, 8)},"b":${t('U8', [3], 8, 11)}}`, 11)
    const f = await openSafetensors(p)
    expect(f.names()).toEqual(['a', 'b'])
    await f.close()
  })
  it('rejects a file shorter than the length prefix', async () => {
    const p = join(dir, 'tiny.safetensors')
    await writeFile(p, Buffer.from([1, 2, 3]))
    await rejects(p, /shorter than the 8-byte header length/)
  })
  it('rejects a header length beyond the file', async () => {
    const p = await raw('long.safetensors', `{"a":${t('F32', [1], 0, 4)}}`, 4, { n: 5000n })
    await rejects(p, /header length 5000 bytes runs beyond the end of the file/)
  })
  it('rejects a header over 100 MB', async () => {
    const p = await raw('huge.safetensors', '{}', 0, { n: 100_000_001n })
    await rejects(p, /over the 100 MB cap/)
    const q = await raw('huge64.safetensors', '{}', 0, { n: 2n ** 63n })
    await rejects(q, /over the 100 MB cap/)
  })
  it('rejects a header that does not start with "{"', async () => {
    await rejects(await raw('array.safetensors', '[1,2]', 0), /does not start with "\{"/)
    await rejects(await raw('space.safetensors', ' {}', 0), /does not start with "\{"/)
  })
  it('rejects invalid JSON and invalid UTF-8', async () => {
    await rejects(await raw('json.safetensors', '{"a":', 0), /not valid JSON/)
    const p = join(dir, 'utf8.safetensors')
    const h = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x20])
    const len = Buffer.alloc(8); len.writeBigUInt64LE(8n)
    await writeFile(p, Buffer.concat([len, h]))
    await rejects(p, /not valid UTF-8/)
  })
  it('rejects an unknown dtype, naming the tensor', async () => {
    await rejects(await raw('dtype.safetensors', `{"w.q":${t('F8_E4M3', [4], 0, 4)}}`, 4), /tensor "w\.q"/, /unknown or unsupported dtype "F8_E4M3"/)
    await rejects(await raw('dtype2.safetensors', `{"w.k":${t('Q4', [4], 0, 4)}}`, 4), /tensor "w\.k"/, /"Q4"/)
  })
  it('rejects shape × item size ≠ byte span, naming the tensor', async () => {
    await rejects(await raw('span.safetensors', `{"fc1.weight":${t('F32', [4, 2], 0, 16)}}`, 16), /tensor "fc1\.weight"/, /= 32 bytes, but data_offsets span 16 bytes/)
  })
  it('rejects overlapping offsets, naming both tensors', async () => {
    const h = `{"a":${t('F32', [2], 0, 8)},"b":${t('F32', [2], 4, 12)}}`
    await rejects(await raw('overlap.safetensors', h, 12), /tensor "b"/, /overlaps tensor "a"/)
  })
  it('rejects holes between tensors and before the first', async () => {
    const h = `{"a":${t('F32', [2], 0, 8)},"b":${t('F32', [2], 12, 20)}}`
    await rejects(await raw('hole.safetensors', h, 20), /hole of 4 bytes between tensor "a".*and tensor "b"/)
    await rejects(await raw('hole0.safetensors', `{"a":${t('F32', [1], 4, 8)}}`, 8), /tensor "a" starts at byte 4/)
  })
  it('rejects trailing bytes after the last tensor', async () => {
    await rejects(await raw('trail.safetensors', `{"a":${t('F32', [2], 0, 8)}}`, 9), /1 trailing bytes after the last tensor "a"/)
  })
  it('rejects a tensor that runs past the end of the file', async () => {
    await rejects(await raw('short.safetensors', `{"a":${t('F32', [4], 0, 16)}}`, 8), /tensor "a" ends at byte 16.*beyond the end of the file/)
  })
  it('rejects non-string metadata values and a non-object __metadata__', async () => {
    await rejects(await raw('meta.safetensors', `{"__metadata__":{"format":"pt","recipe":{"a":1}},"a":${t('F32', [1], 0, 4)}}`, 4), /__metadata__ value for key "recipe" is a object, not a string/)
    await rejects(await raw('meta2.safetensors', `{"__metadata__":{"n":3}}`, 0), /key "n" is a number/)
    await rejects(await raw('meta3.safetensors', `{"__metadata__":"pt"}`, 0), /__metadata__ is not a string → string object/)
  })
  it('rejects duplicate tensor names', async () => {
    await rejects(await raw('dup.safetensors', `{"a":${t('F32', [1], 0, 4)},"a":${t('F32', [1], 4, 8)}}`, 8), /tensor "a" appears twice/)
    // the same key nested inside entries is not a duplicate
    const f = await openSafetensors(await raw('nodup.safetensors', `{"__metadata__":{"a":"x"},"a":${t('F32', [1], 0, 4)}}`, 4))
    expect(f.names()).toEqual(['a'])
    await f.close()
  })
  it('rejects malformed entries (shape, offsets)', async () => {
    await rejects(await raw('shape.safetensors', `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), /tensor "a": shape \[-1\]/)
    await rejects(await raw('offs.safetensors', `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 4), /tensor "a": data_offsets \[0\]/)
    await rejects(await raw('rev.safetensors', `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, 4), /tensor "a": data_offsets \[4, 0\] end before/)
  })
  it('reports a missing file as NOT_FOUND with its path', async () => {
    const p = join(dir, 'absent.safetensors')
    await expect(openSafetensors(p)).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(p) })
  })
})
