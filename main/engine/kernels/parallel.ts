// Runs the core.mjs kernels split across worker_threads. Inputs and output must live on
// SharedArrayBuffers (allocate with sharedFloat32): posting a view of a SharedArrayBuffer shares
// the memory, so workers read and write in place — no copies. Arrays on ordinary ArrayBuffers
// would be copied by postMessage, so those calls run on the calling thread instead.
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { AmalgamError } from '#common/errors'
import { checkKernelArgs, runKernelSync, type KernelArgs, type KernelOp } from './elementwise'

/** Float32Array on a SharedArrayBuffer, usable by parallel kernels without copies. */
export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4))
}

/** Uint8Array on a SharedArrayBuffer (masks). */
export function sharedUint8(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(n))
}

function allShared(args: object): boolean {
  for (const v of Object.values(args)) {
    const list = Array.isArray(v) ? v : [v]
    for (const x of list) if (ArrayBuffer.isView(x) && !(x.buffer instanceof SharedArrayBuffer)) return false
  }
  return true
}

/** Below this many elements a worker round trip (~50–100 µs) costs more than it saves. */
export const PARALLEL_MIN_ELEMENTS = 1 << 20

interface Pending { resolve: () => void; reject: (e: Error) => void }

export class KernelPool {
  readonly size: number
  private workers: Worker[] = []
  private pending = new Map<number, Pending>()
  private nextId = 1

  constructor(threads = Math.max(1, availableParallelism())) {
    if (!Number.isInteger(threads) || threads < 1) throw new AmalgamError('BAD_PARAM', `KernelPool: threads = ${threads} must be a positive integer`)
    this.size = threads
  }

  private ensureWorkers(): void {
    if (this.workers.length) return
    const url = new URL('./worker.mjs', import.meta.url)
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(url)
      w.on('message', (m: { id: number; error?: string }) => {
        const p = this.pending.get(m.id); if (!p) return
        this.pending.delete(m.id)
        if (m.error) p.reject(new AmalgamError('INTERNAL', `kernel worker: ${m.error}`)); else p.resolve()
      })
      w.on('error', (e) => { for (const p of this.pending.values()) p.reject(e); this.pending.clear() })
      w.unref() // an idle pool never keeps the process alive
      this.workers.push(w)
    }
  }

  /**
   * Runs `op` over the whole array, split into `size` contiguous ranges (multiples of 1024
   * elements so threads never share a cache line). Small or non-shared inputs run on this thread.
   */
  async run<K extends KernelOp>(op: K, args: KernelArgs[K]): Promise<void> {
    const n = checkKernelArgs(op, args)
    if (this.size < 2 || n < PARALLEL_MIN_ELEMENTS || !allShared(args)) { runKernelSync(op, args); return }
    this.ensureWorkers()
    const per = Math.ceil(n / this.size / 1024) * 1024
    const jobs: Promise<void>[] = []
    for (let t = 0; t < this.size; t++) {
      const start = t * per, end = Math.min(n, start + per)
      if (start >= end) break
      const id = this.nextId++
      jobs.push(new Promise<void>((resolve, reject) => {
        this.pending.set(id, { resolve, reject })
        const w = this.workers[t]
        w.ref()
        w.postMessage({ id, op, args, start, end })
      }).finally(() => this.workers[t]?.unref()))
    }
    await Promise.all(jobs)
  }

  async close(): Promise<void> {
    const ws = this.workers
    this.workers = []
    await Promise.all(ws.map((w) => w.terminate()))
  }
}

let shared: KernelPool | undefined

/** The process-wide pool (one worker per core). */
export function kernelPool(): KernelPool {
  if (!shared) shared = new KernelPool()
  return shared
}

/** Parallel out = base + λ·Σᵢ(modelsᵢ − base) (see KernelPool.run for when it stays on this thread). */
export async function taskArithmeticParallel(out: Float32Array, base: Float32Array, models: readonly Float32Array[], lambda: number, pool = kernelPool()): Promise<Float32Array> {
  await pool.run('taskArithmetic', { out, base, models, lambda }); return out
}

/** Parallel out = Σᵢ wᵢ·arraysᵢ */
export async function weightedSumParallel(out: Float32Array, arrays: readonly Float32Array[], weights: ArrayLike<number>, accumulate = false, pool = kernelPool()): Promise<Float32Array> {
  await pool.run('weightedSum', { out, arrays, weights: Array.from(weights), accumulate }); return out
}
