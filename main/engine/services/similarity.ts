// Task-vector geometry of a pool: cosine similarity between the task vectors τ_i = θ_i − θ_0
// (over all float tensors, flattened) and the L2 norm of each τ_i per tensor. Streaming: only
// θ_0[t] and θ_i[t] of one tensor are in memory at a time; dot products accumulate in float64.
import { AmalgamError } from '#common/errors'
import { isFloat, type TensorSource } from '../tensors/source'
import { throwIfCancelled, tick, type TaskCtx } from '../util/task'

export interface PoolSimilarity { models: string[]; cosine: number[][]; layerNorms: Array<{ tensor: string; norms: number[] }> }

export async function taskVectorSimilarity(base: TensorSource, models: TensorSource[], labels: string[], ctx?: TaskCtx): Promise<PoolSimilarity> {
  const n = models.length
  const dot = Array.from({ length: n }, () => new Float64Array(n))
  const layerNorms: PoolSimilarity['layerNorms'] = []
  const names = base.names().filter((t) => isFloat(base.meta(t).dtype))
  for (const [k, t] of names.entries()) {
    throwIfCancelled(ctx, 'similarity')
    const b = await base.readF32(t)
    const taus: Float32Array[] = []
    for (const m of models) {
      if (!m.has(t)) throw new AmalgamError('POOL_MISMATCH', `${m.label} has no tensor ${t} (present in the base ${base.label})`)
      const x = await m.readF32(t)
      if (x.length !== b.length) throw new AmalgamError('POOL_MISMATCH', `${m.label}: tensor ${t} has ${x.length} values, the base has ${b.length}`)
      const tau = new Float32Array(b.length)
      for (let e = 0; e < b.length; e++) tau[e] = x[e]! - b[e]!
      taus.push(tau)
    }
    const norms: number[] = []
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const a = taus[i]!, c = taus[j]!
        let s = 0
        for (let e = 0; e < a.length; e++) s += a[e]! * c[e]!
        dot[i]![j]! += s
        if (j !== i) dot[j]![i]! += s
        else norms.push(Math.sqrt(s))
      }
    }
    layerNorms.push({ tensor: t, norms })
    ctx?.progress?.('similarity', (k + 1) / names.length, t)
    if (k % 8 === 7) await tick()
  }
  const cosine = dot.map((row, i) => Array.from(row, (v, j) => {
    const d = Math.sqrt(dot[i]![i]! * dot[j]![j]!)
    return d > 0 ? v / d : i === j ? 1 : 0
  }))
  return { models: labels, cosine, layerNorms }
}
