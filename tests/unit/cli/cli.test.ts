// The CLI contract: exit codes, one-line errors on stderr, --json as the only stdout, and a merge
// that writes a Hugging Face folder whose tensors are what the method says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { main } from '../../../main/cli/main'
import { makeTinyPool, type TinyPool } from '../../fixtures/make-tiny-checkpoints'
import { openModel } from '../../../main/engine/checkpoints/open'

function capture() {
  const out: string[] = []
  const err: string[] = []
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err }
}

let pool: TinyPool
beforeAll(async () => { pool = await makeTinyPool(3, { hidden: 8, positionIds: true }) })
afterAll(async () => { await pool?.cleanup() })

describe('amalgam CLI', () => {
  it('prints help and rejects unknown commands with exit 2', async () => {
    const h = capture()
    expect(await main(['--help'], h.io)).toBe(0)
    expect(h.out.join('\n')).toContain('merge')
    const u = capture()
    expect(await main(['frobnicate'], u.io)).toBe(2)
    expect(u.err[0]).toMatch(/unknown command "frobnicate"/)
  })

  it('inspect --json puts only JSON on stdout', async () => {
    const c = capture()
    expect(await main(['inspect', pool.base, '--json'], c.io)).toBe(0)
    const info = JSON.parse(c.out.join('\n'))
    expect(info.format).toBe('hf-folder')
    expect(info.tensorCount).toBeGreaterThan(10)
    expect(info.config.modelType).toBe('clip_vision_model')
  })

  it('inspect of a missing path fails with one line naming it', async () => {
    const c = capture()
    expect(await main(['inspect', join(pool.root, 'nope')], c.io)).toBe(1)
    expect(c.err).toHaveLength(1)
    expect(c.err[0]).toContain('nope')
  })

  it('check reports OK for a consistent pool and lists mismatches otherwise', async () => {
    const ok = capture()
    expect(await main(['check', '--base', pool.base, '--model', pool.models[0], '--model', pool.models[1], '--json'], ok.io)).toBe(0)
    expect(JSON.parse(ok.out.join('\n')).ok).toBe(true)
    const other = await makeTinyPool(1, { hidden: 12 })
    try {
      const bad = capture()
      expect(await main(['check', '--base', pool.base, '--model', other.models[0]], bad.io)).toBe(1)
      expect(bad.out.join('\n')).toMatch(/shape/)
    } finally { await other.cleanup() }
  })

  it('merge --method task_arithmetic writes base + λ·Σ τ, copies integer buffers, and records the recipe', async () => {
    const out = join(pool.root, 'merged-ta')
    const c = capture()
    const code = await main(['merge', '--base', pool.base, ...pool.models.flatMap((m) => ['--model', m]), '--method', 'task_arithmetic', '--set', 'scaling_factor=0.5', '--out', out, '--json'], c.io)
    expect(c.err.join('\n')).toBe('')
    expect(code).toBe(0)
    const summary = JSON.parse(c.out.join('\n'))
    expect(summary.params.scaling_factor).toBe(0.5)
    expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['README.md', 'amalgam_recipe.yaml', 'config.json', 'model.safetensors']))
    const [merged, base, ...fts] = await Promise.all([openModel(out), openModel(pool.base), ...pool.models.map((m) => openModel(m))])
    const name = 'vision_model.encoder.layers.0.mlp.fc1.weight'
    const m = await merged.readF32(name)
    const b = await base.readF32(name)
    const t = await Promise.all(fts.map((f) => f.readF32(name)))
    for (let i = 0; i < m.length; i += 7) {
      const want = b[i] + 0.5 * t.reduce((s, x) => s + (x[i] - b[i]), 0)
      expect(m[i]).toBeCloseTo(want, 5)
    }
    expect(Buffer.from(await merged.readRaw('vision_model.embeddings.position_ids'))).toEqual(Buffer.from(await base.readRaw('vision_model.embeddings.position_ids')))
    for (const s of [merged, base, ...fts]) await s.close()
  })

  it('merge of a per-task method writes one HF folder per task under --out, with the task manifest', async () => {
    const out = join(pool.root, 'merged-tall')
    const c = capture()
    const code = await main(['merge', '--base', pool.base, ...pool.models.flatMap((m) => ['--model', m]), '--method', 'tall_mask_task_arithmetic', '--out', out, '--json'], c.io)
    expect(code, c.err.join('\n')).toBe(0)
    const summary = JSON.parse(c.out.join('\n'))
    expect(summary.out).toHaveLength(pool.models.length)
    const manifest = JSON.parse(readFileSync(join(out, 'amalgam_tasks.json'), 'utf8'))
    expect(manifest.tasks.map((t: { dir: string }) => join(out, t.dir))).toEqual(summary.out)
    const outs = await Promise.all(summary.out.map((d: string) => openModel(d)))
    const name = 'vision_model.encoder.layers.0.mlp.fc1.weight'
    const [a, b] = await Promise.all([outs[0].readF32(name), outs[1].readF32(name)])
    expect([...a]).not.toEqual([...b]) // each task its own masked model
    for (const o of outs) await o.close()
    expect(readdirSync(pool.root).filter((f) => f.startsWith('merged-tall') && f !== 'merged-tall')).toEqual([]) // no temp parent left
  })

  it('workspace init shows the cache size; clear-cache empties cache/ and reports what it freed', async () => {
    const ws = join(pool.root, 'ws-cache')
    expect(await main(['workspace', 'init', ws], capture().io)).toBe(0)
    mkdirSync(join(ws, 'cache', 'activation-stats'), { recursive: true })
    writeFileSync(join(ws, 'cache', 'activation-stats', 'x.f64'), new Uint8Array(3000))
    const info = capture()
    expect(await main(['workspace', 'open', ws, '--json'], info.io)).toBe(0)
    expect(JSON.parse(info.out.join('\n')).cacheBytes).toBe(3000)
    const c = capture()
    expect(await main(['workspace', 'clear-cache', ws, '--json'], c.io)).toBe(0)
    expect(JSON.parse(c.out.join('\n'))).toEqual({ freedBytes: 3000 })
    expect(readdirSync(join(ws, 'cache'))).toEqual([])
    const missing = capture()
    expect(await main(['workspace', 'clear-cache', join(pool.root, 'no-such-ws')], missing.io)).toBe(1)
    expect(missing.err.join('\n')).toMatch(/not an Amalgam workspace/)
  })

  it('merge refuses a bad parameter before writing anything', async () => {
    const out = join(pool.root, 'merged-bad')
    const c = capture()
    const code = await main(['merge', '--base', pool.base, '--model', pool.models[0], '--method', 'task_arithmetic', '--set', 'scaling_factor=banana', '--out', out], c.io)
    expect(code).not.toBe(0)
    expect(c.err[0]).toMatch(/scaling_factor/)
    expect(existsSync(out)).toBe(false)
  })

  it('methods --json lists every method with a complete schema', async () => {
    const c = capture()
    expect(await main(['methods', '--json'], c.io)).toBe(0)
    const list = JSON.parse(c.out.join('\n')) as Array<{ name: string; params: Array<{ name: string; description: string }> }>
    expect(list.map((m) => m.name)).toEqual(expect.arrayContaining(['task_arithmetic', 'ties_merging', 'simple_average']))
    for (const m of list) for (const p of m.params) expect(p.description.length, `${m.name}.${p.name}`).toBeGreaterThan(0)
  })

  it('the installed entry (bin/amalgam.js) exits non-zero with a one-line error', () => {
    const r = spawnSync(process.execPath, ['bin/amalgam.js', 'inspect', '/definitely/not/here'], { encoding: 'utf8' })
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
  })
})
