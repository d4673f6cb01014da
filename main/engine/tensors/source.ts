// A model seen as named tensors that can be read one at a time. Disk-backed sources
// (safetensors files, sharded HF folders) and in-memory ones share this interface, so merge
// methods, evaluation and export never care where weights live.
import type { DType } from '#common/types'
import { sampleBlocksOf, type BlockSpec } from './block-sample'

export interface TensorMeta { name: string; shape: number[]; dtype: DType }

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set(['F64', 'F32', 'F16', 'BF16'])
export const isFloat = (d: DType): boolean => FLOAT_DTYPES.has(d)
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

export interface TensorSource {
  /** what to call this model in messages (folder or file path) */
  readonly label: string
  /** tensor names, sorted lexicographically (the flat() order of methods.md §0.1) */
  names(): string[]
  meta(name: string): TensorMeta
  has(name: string): boolean
  /** floating tensors decoded to float32; throws (naming the tensor) for integer dtypes */
  readF32(name: string): Promise<Float32Array>
  /** the stored bytes, unconverted (integer buffers are copied byte for byte) */
  readRaw(name: string): Promise<Uint8Array>
  /**
   * Optional: the block sample of a floating tensor (tensors/block-sample.ts) into `out`.
   * Synchronous on purpose: it touches every page of the tensor once, which the addon does through
   * a mapping of the page-cache copy in a fraction of a read.
   */
  sampleBlocks?(name: string, spec: BlockSpec, out: Float32Array): void
  close?(): Promise<void>
}

/** A source that takes block samples. */
export type SamplingSource = TensorSource & Required<Pick<TensorSource, 'sampleBlocks'>>

/** Whether every source takes block samples (TensorSource.sampleBlocks). */
export const canSampleBlocks = (sources: readonly TensorSource[]): sources is SamplingSource[] =>
  sources.every((s) => typeof s.sampleBlocks === 'function')

export interface MemTensor { shape: number[]; data: Float32Array }

/** An in-memory float32 model, used by tests, the mini-8 benchmark and in-process evaluation. */
export class MemorySource implements TensorSource {
  readonly label: string
  private readonly t: Map<string, MemTensor>
  private readonly sorted: string[]
  constructor(tensors: Map<string, MemTensor> | Record<string, MemTensor>, label = 'memory') {
    this.t = tensors instanceof Map ? tensors : new Map(Object.entries(tensors))
    this.sorted = [...this.t.keys()].sort()
    this.label = label
    for (const [name, v] of this.t) {
      const n = numel(v.shape)
      if (n !== v.data.length) throw new Error(`${label}: tensor ${name} has ${v.data.length} values but shape [${v.shape}] needs ${n}`)
    }
  }
  names(): string[] { return [...this.sorted] }
  has(name: string): boolean { return this.t.has(name) }
  meta(name: string): TensorMeta { return { name, shape: [...this.get(name).shape], dtype: 'F32' } }
  async readF32(name: string): Promise<Float32Array> { return this.get(name).data }
  async readRaw(name: string): Promise<Uint8Array> { const d = this.get(name).data; return new Uint8Array(d.buffer, d.byteOffset, d.byteLength) }
  sampleBlocks(name: string, spec: BlockSpec, out: Float32Array): void { sampleBlocksOf(this.get(name).data, spec, out) }
  tensors(): Map<string, MemTensor> { return this.t }
  private get(name: string): MemTensor {
    const v = this.t.get(name)
    if (!v) throw new Error(`${this.label}: no tensor named ${name}`)
    return v
  }
}

/** Receives merged tensors in order; disk sinks write safetensors, memory sinks collect. */
export interface TensorSink {
  write(name: string, shape: number[], data: Float32Array): Promise<void>
  /** non-float tensors (position_ids …) copied byte for byte from the base */
  writeRaw(name: string, meta: TensorMeta, bytes: Uint8Array): Promise<void>
  /**
   * Optional: overwrite entries `index[i]` of a float tensor already written with `values[i]`
   * (before the sink is committed). A method whose last few values are settled only at the end of
   * its pass (TIES's threshold bucket) streams its tensors and patches them, instead of holding
   * the whole output in memory.
   */
  patch?(name: string, index: Uint32Array, values: Float32Array): Promise<void>
  /**
   * true when write() has copied or encoded the data by the time it resolves (files, discards),
   * so the caller may reuse the array for the next tensor; memory sinks keep it and leave this unset.
   */
  readonly copiesOnWrite?: boolean
}

/** Whether every sink accepts patches (a method may then stream provisional tensors). */
export const canPatch = (sinks: readonly TensorSink[]): boolean => sinks.every((s) => typeof s.patch === 'function')

/** Whether every sink is done with a written array once write() resolves (see copiesOnWrite). */
export const copyOnWrite = (sinks: readonly TensorSink[]): boolean => sinks.every((s) => s.copiesOnWrite === true)

export class MemorySink implements TensorSink {
  readonly tensors = new Map<string, MemTensor>()
  async write(name: string, shape: number[], data: Float32Array): Promise<void> { this.tensors.set(name, { shape: [...shape], data }) }
  async patch(name: string, index: Uint32Array, values: Float32Array): Promise<void> {
    const t = this.tensors.get(name)
    if (!t) throw new Error(`memory sink: patch of ${name}, which was never written`)
    for (let i = 0; i < index.length; i++) t.data[index[i]] = values[i]
  }
  // integer buffers (position_ids …) are not needed for in-memory evaluation
  async writeRaw(_name: string, _meta: TensorMeta, _bytes: Uint8Array): Promise<void> {}
  toSource(label = 'merged'): MemorySource { return new MemorySource(this.tensors, label) }
}
