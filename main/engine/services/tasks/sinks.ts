// Small TensorSink combinators used by the experiment and export tasks.
import { canPatch, copyOnWrite, type TensorMeta, type TensorSink } from '../../tensors/source'

/** Sends every tensor to several sinks (memory for evaluation + disk for the kept model). */
export class TeeSink implements TensorSink {
  readonly patch?: (name: string, index: Uint32Array, values: Float32Array) => Promise<void>
  readonly copiesOnWrite: boolean
  constructor(private readonly sinks: TensorSink[]) {
    this.copiesOnWrite = copyOnWrite(sinks)
    if (canPatch(sinks)) this.patch = async (name, index, values) => { for (const s of sinks) await s.patch!(name, index, values) }
  }
  async write(name: string, shape: number[], data: Float32Array): Promise<void> { for (const s of this.sinks) await s.write(name, shape, data) }
  async writeRaw(name: string, meta: TensorMeta, bytes: Uint8Array): Promise<void> { for (const s of this.sinks) await s.writeRaw(name, meta, bytes) }
}

/** Discards tensors: a merge-only run that keeps nothing still runs (and checks) the whole merge. */
export class DiscardSink implements TensorSink {
  readonly copiesOnWrite = true
  async write(): Promise<void> { /* nothing kept */ }
  async writeRaw(): Promise<void> { /* nothing kept */ }
  async patch(): Promise<void> { /* nothing kept */ }
}

/**
 * Test hook: AMALGAM_TEST_TENSOR_DELAY_MS slows every tensor write so crash tests can kill a job
 * in the middle of a merge or export of a tiny model. Unset (the normal case) it costs nothing.
 */
export function testTensorDelayMs(): number {
  const v = Number(process.env.AMALGAM_TEST_TENSOR_DELAY_MS ?? 0)
  return Number.isFinite(v) && v > 0 ? v : 0
}

export function delayedSink(sink: TensorSink, ms: number): TensorSink {
  if (ms <= 0) return sink
  const wait = () => new Promise<void>((r) => setTimeout(r, ms))
  return {
    async write(name, shape, data) { await wait(); await sink.write(name, shape, data) },
    async writeRaw(name, meta, bytes) { await wait(); await sink.writeRaw(name, meta, bytes) },
    ...(sink.patch ? { patch: (name: string, index: Uint32Array, values: Float32Array) => sink.patch!(name, index, values) } : {}),
    copiesOnWrite: sink.copiesOnWrite,
  }
}
