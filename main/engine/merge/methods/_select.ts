// Global order statistics for the merge methods, on top of the engine's exact streaming radix
// selector (kernels/select.ts). Each selector sees the same stream twice (two read passes over
// the pool); nothing of size N × d is ever held.
import { AmalgamError } from '#common/errors'
import { AbsRadixSelect, kthSmallestAbs } from '../../kernels/select'

/** Exact j-th smallest |v| of one in-memory vector (1-indexed). */
export const kthAbs = (v: Float32Array, j: number): number => kthSmallestAbs(v, j)

/**
 * Several independent exact |v| selections fed in lock-step (one per task, or several ranks per
 * task): feed(i, chunk) in every pass, endPass() after each pass, then thresholds().
 */
export class AbsThresholds {
  readonly passes = 2
  private readonly sel: AbsRadixSelect[]
  private pass = 0
  constructor(ranks: number[], private readonly expected?: number) {
    this.sel = ranks.map((r) => new AbsRadixSelect(r))
  }
  feed(i: number, chunk: Float32Array): void {
    const s = this.sel[i]
    if (this.pass === 0) s.pass1(chunk)
    else if (s.needsPass2) s.pass2(chunk)
  }
  endPass(): void {
    if (this.pass === 0) {
      this.sel.forEach((s, i) => {
        if (this.expected !== undefined && s.count !== this.expected) {
          throw new AmalgamError('BAD_FILE', `selection ${i + 1}: ${this.expected - s.count} NaN values among the task-vector entries`)
        }
        s.beginPass2()
      })
    }
    this.pass++
  }
  thresholds(): number[] { return this.sel.map((s) => s.result()) }
}

/**
 * Exact j-th smallest signed value (1-indexed) over a stream, two passes. Built from two |v|
 * selectors: the positive values (others masked to NaN, which the radix selector skips) and the
 * non-positive ones, whose signed order is their |v| order reversed.
 */
export class SignedSelect {
  private readonly pos: AbsRadixSelect
  private readonly nonPos: AbsRadixSelect
  private nNonPos = 0
  private nPos = 0
  private usePos = true
  private pass = 0
  private buf = new Float32Array(0)
  constructor(private readonly j: number) {
    this.pos = new AbsRadixSelect((count) => count === 0 ? 1 : this.j - this.nNonPos)
    this.nonPos = new AbsRadixSelect((count) => count === 0 ? 1 : this.nNonPos - this.j + 1)
  }
  private masked(chunk: Float32Array, positive: boolean): Float32Array {
    if (this.buf.length < chunk.length) this.buf = new Float32Array(chunk.length)
    const b = this.buf.subarray(0, chunk.length)
    for (let i = 0; i < chunk.length; i++) { const v = chunk[i]; b[i] = (v > 0) === positive ? v : NaN }
    return b
  }
  feed(chunk: Float32Array): void {
    if (this.pass === 0) {
      for (let i = 0; i < chunk.length; i++) { if (chunk[i] > 0) this.nPos++; else if (chunk[i] <= 0) this.nNonPos++ }
      this.pos.pass1(this.masked(chunk, true))
      this.nonPos.pass1(this.masked(chunk, false))
    } else {
      const s = this.usePos ? this.pos : this.nonPos
      if (s.needsPass2) s.pass2(this.masked(chunk, this.usePos))
    }
  }
  endPass(): void {
    if (this.pass === 0) {
      if (this.j < 1 || this.j > this.nPos + this.nNonPos) throw new AmalgamError('BAD_PARAM', `signed selection: rank ${this.j} outside 1..${this.nPos + this.nNonPos}`)
      this.usePos = this.j > this.nNonPos
      ;(this.usePos ? this.pos : this.nonPos).beginPass2()
    }
    this.pass++
  }
  result(): number {
    const r = (this.usePos ? this.pos : this.nonPos).result()
    return this.usePos ? r : -r
  }
}
