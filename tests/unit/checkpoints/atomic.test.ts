import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { AtomicDir, sweepStaleTemps, writeFileAtomic } from '../../../main/engine/util/atomic'
import { sha256File } from '../../../main/engine/util/hash'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'

let root: string
beforeAll(async () => { root = await makeTempDir('amalgam-atomic-') })
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

describe('atomic writes', () => {
  it('writeFileAtomic replaces a file and leaves no temp', async () => {
    const p = join(root, 'run.json')
    await writeFileAtomic(p, '{"a":1}')
    await writeFileAtomic(p, new Uint8Array([0x7b, 0x7d]))
    expect(await readFile(p, 'utf8')).toBe('{}')
    expect((await readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([])
  })

  it('AtomicDir: invisible until commit, abort removes it, refuses a non-empty target', async () => {
    const target = join(root, 'export')
    const d = await AtomicDir.create(target)
    expect(d.tmp.startsWith(`${target}.tmp-${process.pid}-`)).toBe(true)
    await writeFile(d.path('a.txt'), 'a')
    await expect(stat(target)).rejects.toThrow()
    await d.commit()
    expect(await readFile(join(target, 'a.txt'), 'utf8')).toBe('a')
    await expect(AtomicDir.create(target)).rejects.toThrow(/folder exists and is not empty/)
    const d2 = await AtomicDir.create(target, { overwrite: true })
    await writeFile(d2.path('b.txt'), 'b')
    await d2.commit()
    expect(await readdir(target)).toEqual(['b.txt'])
    const d3 = await AtomicDir.create(join(root, 'gone'))
    await writeFile(d3.path('x'), 'x')
    await d3.abort()
    await d3.abort()
    expect((await readdir(root)).sort()).toEqual(['export', 'run.json'])
  })

  it('an empty existing folder is replaced without overwrite', async () => {
    const target = join(root, 'empty-target')
    await mkdir(target)
    const d = await AtomicDir.create(target)
    await writeFile(d.path('f'), '1')
    await d.commit()
    expect(await readdir(target)).toEqual(['f'])
  })

  it('sweepStaleTemps removes temps of dead processes only', async () => {
    const target = join(root, 'swept')
    const dead = `${target}.tmp-999999999-abcd`
    const mine = `${target}.tmp-${process.pid}-abcd`
    await mkdir(dead)
    await mkdir(mine)
    expect(await sweepStaleTemps(target)).toEqual([dead])
    expect(await stat(mine).then(() => true)).toBe(true)
    await rm(mine, { recursive: true })
    // creating an AtomicDir sweeps the target's stale temps too
    await mkdir(dead)
    const d = await AtomicDir.create(target)
    await expect(stat(dead)).rejects.toThrow()
    await d.abort()
  })

  it('sha256File streams the file', async () => {
    const p = join(root, 'blob')
    const data = Buffer.alloc(3 << 20, 7)
    await writeFile(p, data)
    expect(await sha256File(p)).toBe(createHash('sha256').update(data).digest('hex'))
    await expect(sha256File(join(root, 'nope'))).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})
