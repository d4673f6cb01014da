// Activation capture (methods.md §0.4): widths follow the PyTorch convention (fc2's input is the
// intermediate width, S0), q/k/v share one Gram computed once, the Grams and LayerNorm energies
// equal a direct computation, and batching does not change the sums.
import { describe, it, expect, beforeAll } from 'vitest'
import { getModelTf, tf } from '../../../main/engine/model/tf'
import { ClipVision } from '../../../main/engine/model/clip-vision'
import { captureActivations, gramOf } from '../../../main/engine/model/capture'
import { MemorySource } from '../../../main/engine/tensors/source'
import { mini8MergeData } from '../../../main/engine/merge/data-mini8'
import type { Mini8 } from '../../../main/engine/benchmark/mini8'
import { randomState, tinyCfg } from './_fixture'
import { Rng } from '../../../main/engine/benchmark/rng'

const L0 = 'vision_model.encoder.layers.0'

describe('activation capture', () => {
  beforeAll(async () => { await getModelTf() })
  it('Grams per linear unit (q/k/v shared), LN energies, batch-size independent', async () => {
    const m = await ClipVision.load(tinyCfg, new MemorySource(randomState(tinyCfg, 4)))
    const rng = new Rng(5)
    const pixels = Float32Array.from({ length: 7 * 64 }, () => rng.normal())
    const imgs = { count: 7, side: 8, channels: 1, pixels }
    const a = await captureActivations(m, imgs, { grams: true, norms: true, batchSize: 3 })
    const b = await captureActivations(m, imgs, { grams: true, norms: true, batchSize: 7 })
    expect(a.grams.get(`${L0}.self_attn.q_proj`)).toBe(a.grams.get(`${L0}.self_attn.k_proj`))
    expect(a.grams.get(`${L0}.self_attn.q_proj`)).toBe(a.grams.get(`${L0}.self_attn.v_proj`))
    expect(a.grams.get(`${L0}.mlp.fc2`)!.dim).toBe(20)
    expect(a.grams.get(`${L0}.mlp.fc1`)!.dim).toBe(12)
    expect(a.grams.get(`${L0}.mlp.fc2`)!.rows).toBe(7 * 5)
    expect(a.norms.get('vision_model.post_layernorm')!.rows).toBe(7) // CLS rows only
    for (const [u, g] of a.grams) { const h = b.grams.get(u)!; g.gram.forEach((v, i) => expect(v).toBeCloseTo(h.gram[i], 3)) }
    // direct: the fc1 input is layer_norm2's output, captured from the forward by hand
    const direct: Record<string, Float32Array> = {}
    tf.tidy(() => { m.forward(tf.tensor4d(pixels, [7, 8, 8, 1]), { onLinearInput: (u, x) => { if (u === `${L0}.mlp.fc1`) direct.x = x.dataSync() as Float32Array }, onNormInput: (u, x) => { if (u === `${L0}.layer_norm1`) direct.ln = x.dataSync() as Float32Array } }) })
    const g = gramOf(direct.x, 35, 12)
    a.grams.get(`${L0}.mlp.fc1`)!.gram.forEach((v, i) => expect(v).toBeCloseTo(g[i], 8))
    const e = new Float64Array(12)
    for (let r = 0; r < 35; r++) {
      const row = Array.from(direct.ln.subarray(r * 12, r * 12 + 12))
      const mu = row.reduce((s, v) => s + v, 0) / 12, va = row.reduce((s, v) => s + (v - mu) ** 2, 0) / 12
      row.forEach((v, d) => { e[d] += (v - mu) ** 2 / (va + 1e-5) })
    }
    a.norms.get(`${L0}.layer_norm1`)!.sq.forEach((v, d) => expect(v).toBeCloseTo(e[d], 8))
    m.dispose()
  })
})

describe('mini-8 merge data provider', () => {
  it('normalises uint8 pixels, samples train exemplars with the seed, first-n when unshuffled, test without labels', async () => {
    const px = 8 * 8
    const mk = (count: number, v: number) => ({ count, pixels: new Uint8Array(count * px).map((_, i) => (i * 7 + v) % 256), labels: new Uint8Array(count).map((_, i) => i % 3) })
    const sets: Record<string, ReturnType<typeof mk>> = { 'a/train': mk(10, 1), 'a/test': mk(4, 2), 'b/train': mk(10, 3), 'b/test': mk(4, 4) }
    const fake = {
      tasks: ['a', 'b'], config: tinyCfg,
      data: (t: string, s: string) => sets[`${t}/${s}`],
      exemplars: (t: string, n: number, seed: number) => { const set = sets[`${t}/train`]; const idx = Array.from(new Rng(seed).permutation(10).subarray(0, n)); return { count: n, indices: idx, pixels: Uint8Array.from(idx.flatMap((i) => Array.from(set.pixels.subarray(i * px, (i + 1) * px)))), labels: Uint8Array.from(idx, (i) => set.labels[i]) } },
      head: async () => ({ weight: new Float32Array(36), classes: 3, dim: 12, logitScale: 100, task: 'a', classNames: ['x', 'y', 'z'] }),
    } as unknown as Mini8
    const d = mini8MergeData(fake, ['b', 'a'])
    expect(d.tasks).toBe(2)
    const first = await d.exemplars(0, 3, 1, { shuffle: false, labels: true })
    expect(first.pixels[0]).toBeCloseTo(sets['b/train'].pixels[0] / 127.5 - 1, 6)
    expect(Array.from(first.labels!)).toEqual([0, 1, 2])
    const s1 = await d.exemplars(1, 4, 9), s2 = await d.exemplars(1, 4, 9)
    expect(Array.from(s1.pixels)).toEqual(Array.from(s2.pixels))
    expect(s1.labels).toBeUndefined()
    const test = await d.unlabeled(1)
    expect(test.count).toBe(4); expect(test.labels).toBeUndefined()
    await expect(d.exemplars(2, 1, 0)).rejects.toThrow(/task index 2/)
    expect(() => mini8MergeData(fake, ['c'])).toThrow(/unknown task c/)
  })
})
