// Layer-wise AdaMerging on DogeTA vectors (methods.md §25): per-task δ_i optimisation lowers the
// DogeTA loss; only the filtered 2-D encoder weights move; at zero AdaMerging steps the merge is
// θ0 + 0.3·Σ M_i ⊙ (τ_i + δ_i) there.
import { describe, it, expect, beforeAll } from 'vitest'
import { optimiseTaskDeltas } from '../../../main/engine/merge/methods/layer_wise_adamerging_doge_ta'
import { dogeFilter } from '../../../main/engine/merge/methods/doge_ta'
import { runMerge } from '../../../main/engine/merge/run'
import { MemorySink } from '../../../main/engine/tensors/source'
import { getModelTf } from '../../../main/engine/model/tf'
import { Rng } from '../../../main/engine/benchmark/rng'
import { tinyData, tinyPool } from './_fixture'

describe('layer_wise_adamerging_doge_ta', () => {
  beforeAll(async () => { await getModelTf() })
  it('per-task deltas lower the DogeTA objective (5 × 7, 3 tasks)', () => {
    const rng = new Rng(2)
    const V = [0, 1, 2].map(() => Float32Array.from({ length: 35 }, () => rng.normal()))
    const { deltas, losses } = optimiseTaskDeltas(V, 5, 7, 200, 1e-2)
    expect(losses[losses.length - 1]).toBeLessThan(losses[0])
    expect(deltas.length).toBe(3)
    expect(deltas.some((d) => d.some((x) => x !== 0))).toBe(true)
  })
  it('zero steps: filtered weights get θ0 + 0.3 Σ masked (τ + δ); everything else stays θ0', async () => {
    const pool = tinyPool(2)
    const sink = new MemorySink()
    const res = await runMerge({ method: 'layer_wise_adamerging_doge_ta', params: { max_steps: 0 }, pool, sink, data: tinyData(2) })
    let movedFiltered = 0
    for (const n of pool.base.names()) {
      const b = await pool.base.readF32(n), got = sink.tensors.get(n)!.data
      const moved = got.some((v, i) => v !== b[i])
      if (dogeFilter(n, pool.base.meta(n).shape)) movedFiltered += moved ? 1 : 0
      else expect(moved, n).toBe(false)
    }
    expect(movedFiltered).toBe(12) // 6 weights × 2 blocks
    const doge = res.diagnostics.doge as { filteredTensors: number; maskThresholds: number[] }
    expect(doge.filteredTensors).toBe(12)
    expect(doge.maskThresholds.length).toBe(2)
  })
})
