// A small seeded generator (mulberry32) for everything in the benchmark and training that must
// be reproducible for a seed: splits, shuffles, initialisation, exemplar draws.
export class Rng {
  private s: number
  private spare: number | null = null
  constructor(seed: number) { this.s = (seed >>> 0) ^ 0x9e3779b9 }
  /** uniform in [0, 1) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number { return Math.floor(this.next() * n) }
  /** standard normal (Box–Muller) */
  normal(): number {
    if (this.spare !== null) { const v = this.spare; this.spare = null; return v }
    let u = 0
    while (u === 0) u = this.next()
    const v = this.next(), r = Math.sqrt(-2 * Math.log(u))
    this.spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
  /** a permutation of 0..n-1 (Fisher–Yates) */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    for (let i = n - 1; i > 0; i--) { const j = this.int(i + 1); const t = p[i]; p[i] = p[j]; p[j] = t }
    return p
  }
}
