// DARE random drop (methods.md §4, §29). FusionBench draws one torch.rand stream, seeded like
// torch.manual_seed(seed), over each model in pool order and, within a model, each dropped
// tensor in key order — model-major, while merging streams tensor-major. So the keep masks are
// drawn once up front into bit sets (1 bit per dropped parameter per model, 1/32 of the model
// size each) and every later pass reads the same bits: multi-pass methods (DARE-TIES) see
// identical drops in every pass.
import { AmalgamError } from '#common/errors'
import { TorchGenerator } from '../../kernels/torch-generator'
import { throwIfCancelled } from '../../util/task'
import type { MergeJob } from '../types'
import { floatNames, type Slice, type TensorFilter } from './_stream'

export type DareVariant = 'fusion_bench' | 'mergekit'

export class DareMasks {
  private readonly offsets = new Map<string, number>()
  private readonly bits: Uint8Array[] = []
  readonly total: number
  private readonly keptCount: number[] = []

  private constructor(names: string[], sizes: number[], models: number) {
    let off = 0
    names.forEach((n, i) => { this.offsets.set(n, off); off += sizes[i] })
    this.total = off
    for (let t = 0; t < models; t++) { this.bits.push(new Uint8Array(Math.ceil(off / 8))); this.keptCount.push(0) }
  }

  /**
   * Draws the masks: entry kept when u > float32(p), u = (mt() & 0xFFFFFF)·2⁻²⁴ (FusionBench);
   * variant mergekit keeps when u < float32(1 − p) from the same stream (mergekit draws a
   * Bernoulli from a different stream, so its exact masks are not reproduced).
   */
  static draw(job: MergeJob, p: number, filter: TensorFilter | undefined, variant: DareVariant): DareMasks {
    const names = floatNames(job, filter)
    const sizes = names.map((n) => job.pool.base.meta(n).shape.reduce((a, b) => a * b, 1))
    const N = job.pool.models.length
    const m = new DareMasks(names, sizes, N)
    const g = new TorchGenerator(job.seed)
    // compare the 24-bit integer draw against p·2²⁴ (exact in float64), same as u > float32(p)
    const pf = Math.fround(p) * 16777216
    const qf = Math.fround(1 - p) * 16777216
    for (let t = 0; t < N; t++) {
      throwIfCancelled(job.ctx, `${job.method} (DARE masks)`)
      job.ctx.progress?.('DARE masks', t / N, job.pool.models[t].label)
      const b = m.bits[t]
      let kept = 0
      for (let i = 0; i < m.total; i++) {
        const x = g.nextU32() & 0xffffff
        const keep = variant === 'fusion_bench' ? x > pf : x < qf
        if (keep) { b[i >>> 3] |= 1 << (i & 7); kept++ }
      }
      m.keptCount[t] = kept
    }
    job.ctx.progress?.('DARE masks', 1)
    return m
  }

  covers(name: string): boolean { return this.offsets.has(name) }

  /** keep bit of entry k of `name` for model t */
  keeps(t: number, name: string, k: number): boolean {
    const i = this.offsets.get(name)! + k
    return (this.bits[t][i >>> 3] & (1 << (i & 7))) !== 0
  }

  /** fraction of dropped-eligible entries kept, per model */
  keptFraction(): number[] { return this.keptCount.map((k) => k / Math.max(this.total, 1)) }

  /**
   * Applies model t's mask to τ in place. FusionBench: τ·m / float32(1 − p) when rescale.
   * mergekit: τ·m, then × ‖τ‖₁/‖τ·m‖₁ per tensor when rescale.
   */
  apply(t: number, name: string, tau: Float32Array, p: number, rescale: boolean, variant: DareVariant): void {
    const off = this.offsets.get(name)
    if (off === undefined) return
    const b = this.bits[t]
    if (variant === 'fusion_bench') {
      const div = Math.fround(1 - p)
      if (rescale && div === 0) throw new AmalgamError('BAD_PARAM', 'DARE: sparsity_ratio = 1 drops everything and cannot be rescaled')
      for (let k = 0; k < tau.length; k++) {
        const i = off + k
        if ((b[i >>> 3] & (1 << (i & 7))) === 0) tau[k] = 0
        else if (rescale) tau[k] = tau[k] / div
      }
      return
    }
    let l1 = 0, l1m = 0
    for (let k = 0; k < tau.length; k++) {
      const i = off + k
      l1 += Math.abs(tau[k])
      if ((b[i >>> 3] & (1 << (i & 7))) === 0) tau[k] = 0
      else l1m += Math.abs(tau[k])
    }
    if (rescale && l1m > 0) { const r = l1 / l1m; for (let k = 0; k < tau.length; k++) tau[k] *= r }
  }

  /** τ̃ for every model of a slice (new arrays). */
  vectors(s: Slice, taus: Float32Array[], p: number, rescale: boolean, variant: DareVariant): Float32Array[] {
    taus.forEach((tau, t) => this.apply(t, s.name, tau, p, rescale, variant))
    return taus
  }
}
