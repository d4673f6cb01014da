// Tiny pools for the merge tests: float tensors from arrays plus optional integer buffers.
import type { DType } from '#common/types'
import { MemorySink, MemorySource, type MemTensor, type TensorMeta, type TensorSink, type TensorSource } from '../../../main/engine/tensors/source'
import { runMerge } from '../../../main/engine/merge/run'
import type { ModelPool } from '../../../main/engine/merge/types'

export type T = Record<string, { shape: number[]; data: number[] | Float32Array }>

/** a MemorySource with integer buffers next to the float tensors */
export class MixedSource implements TensorSource {
  readonly label: string
  private readonly mem: MemorySource
  constructor(floats: T, private readonly ints: Record<string, { dtype: DType; shape: number[]; bytes: Uint8Array }> = {}, label = 'm') {
    const m: Record<string, MemTensor> = {}
    for (const [k, v] of Object.entries(floats)) m[k] = { shape: v.shape, data: Float32Array.from(v.data) }
    this.mem = new MemorySource(m, label)
    this.label = label
  }
  names(): string[] { return [...this.mem.names(), ...Object.keys(this.ints)].sort() }
  has(n: string): boolean { return this.mem.has(n) || n in this.ints }
  meta(n: string): TensorMeta { const i = this.ints[n]; return i ? { name: n, shape: i.shape, dtype: i.dtype } : this.mem.meta(n) }
  async readF32(n: string): Promise<Float32Array> {
    if (n in this.ints) throw new Error(`${this.label}: ${n} is an integer tensor`)
    return this.mem.readF32(n)
  }
  async readRaw(n: string): Promise<Uint8Array> { return this.ints[n]?.bytes ?? this.mem.readRaw(n) }
}

export class RecordingSink extends MemorySink implements TensorSink {
  readonly raw = new Map<string, { meta: TensorMeta; bytes: Uint8Array }>()
  readonly order: string[] = []
  override async write(name: string, shape: number[], data: Float32Array): Promise<void> { this.order.push(name); return super.write(name, shape, data) }
  override async writeRaw(name: string, meta: TensorMeta, bytes: Uint8Array): Promise<void> { this.order.push(name); this.raw.set(name, { meta, bytes }) }
  get(name: string): number[] { return [...this.tensors.get(name)!.data] }
}

export function src(t: T, label = 'm'): MixedSource { return new MixedSource(t, {}, label) }

/** one-tensor pool: base vector and one vector per model, all named "w" with the given shape */
export function vecPool(base: number[], models: number[][], shape = [base.length]): ModelPool {
  return { base: src({ w: { shape, data: base } }, 'base'), models: models.map((m, i) => src({ w: { shape, data: m } }, `model${i + 1}`)) }
}

export async function merge1(method: string, pool: ModelPool, params: Record<string, unknown> = {}, seed = 0) {
  const sink = new RecordingSink()
  const result = await runMerge({ method, params, seed, pool, sink })
  return { sink, result }
}

/** deterministic pseudo-random normal-ish values (LCG + sum of uniforms); no Math.random */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = (seed * 2654435761 + 12345) >>> 0
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    let acc = 0
    for (let j = 0; j < 4; j++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; acc += s / 4294967296 }
    out[i] = (acc - 2) * scale * 1.732
  }
  return out
}

export function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])))) return false
  return true
}
