// RegMean++ (methods.md §20): N = 1 returns the model except post_layernorm (θ0); with identical
// embeddings across models it equals RegMean on a one-block tower (except post_layernorm); the
// block forward used for the layer pass matches the model runtime.
import { describe, it, expect, beforeAll } from 'vitest'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink, MemorySource, type MemTensor } from '../../../main/engine/tensors/source'
import { getModelTf, tf } from '../../../main/engine/model/tf'
import { ClipVision } from '../../../main/engine/model/clip-vision'
import { embedTokens, encoderBlock } from '../../../main/engine/merge/methods/_data-encoder-layer'
import { tinyCfg, tinyData, tinyPool, randomState, perturbed } from './_fixture'

const maxDiff = (a: Float32Array, b: Float32Array) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m }

describe('RegMean++', () => {
  beforeAll(async () => { await getModelTf() })
  it('the block-by-block forward equals the model runtime', async () => {
    const sd = randomState(tinyCfg, 9)
    const m = await ClipVision.load(tinyCfg, new MemorySource(sd))
    const x = tf.randomNormal([3, 8, 8, 1], 0, 1, 'float32', 4) as import('@tensorflow/tfjs').Tensor4D
    const want = m.forward(x, { hidden: true }).hidden!.dataSync() as Float32Array
    const get = (n: string) => sd.get(n)!.data
    let h = embedTokens(tinyCfg, get, x)
    for (let l = 0; l < tinyCfg.numLayers; l++) h = encoderBlock(tinyCfg, (s) => get(`vision_model.encoder.layers.${l}.${s}`), `vision_model.encoder.layers.${l}`, h, 3)
    expect(maxDiff(h.dataSync() as Float32Array, want)).toBeLessThan(1e-5)
    m.dispose()
  })
  it('N = 1 returns the model except post_layernorm (θ0)', async () => {
    const pool = tinyPool(1)
    const sink = new MemorySink()
    await runMerge({ method: 'regmean_plusplus', params: { num_regmean_examples: 16, batch_size: 8 }, pool, sink, data: tinyData(1) })
    for (const n of pool.models[0].names()) {
      const want = n.startsWith('vision_model.post_layernorm') ? await pool.base.readF32(n) : await pool.models[0].readF32(n)
      expect(maxDiff(sink.tensors.get(n)!.data, want), n).toBeLessThan(1e-4)
    }
  })
  it('one block with shared embeddings: equals RegMean except post_layernorm', async () => {
    const cfg = { ...tinyCfg, numLayers: 1 }
    const base = randomState(cfg, 21)
    const models = [1, 2, 3].map((k) => {
      const p = perturbed(base, 50 + k, 0.1)
      for (const [n, t] of base) if (!n.includes('encoder.layers')) p.set(n, { shape: t.shape, data: Float32Array.from(t.data) })
      return new MemorySource(p as Map<string, MemTensor>, `m${k}`)
    })
    const pool = { base: new MemorySource(base, 'base'), models }
    const a = new MemorySink(), b = new MemorySink()
    await runMerge({ method: 'regmean_plusplus', params: { num_regmean_examples: 16, batch_size: 8 }, pool, sink: a, data: tinyData(3, cfg) })
    await runMerge({ method: 'regmean', params: { num_regmean_examples: 16, batch_size: 8 }, pool, sink: b, data: tinyData(3, cfg) })
    for (const [n, t] of b.tensors) {
      if (n.startsWith('vision_model.post_layernorm')) continue
      expect(maxDiff(a.tensors.get(n)!.data, t.data), n).toBeLessThan(1e-4)
    }
  })
})
