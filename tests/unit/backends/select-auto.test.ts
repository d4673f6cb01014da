import { describe, expect, it } from 'vitest'
import util from 'node:util'
import { applyTfjsNodeShim } from '../../../main/engine/backends/tfjs-node-shim'

describe('automatic TF.js backend selection', () => {
  it('skips the unavailable tfjs-node packages with reasons and lands on wasm with SIMD', async () => {
    delete process.env.AMALGAM_TF_BACKEND
    const { initTensorBackend, getTf, backendReport } = await import('../../../main/engine/backends/select')
    const lines: string[] = []
    const r = await initTensorBackend({ log: (l) => lines.push(l) })
    // this environment has no libtensorflow: tfjs-node-gpu must fail cleanly, not crash
    const gpu = r.skipped.find((s) => s.option.includes('tfjs-node-gpu'))
    if (r.backend !== 'tensorflow') {
      expect(gpu?.reason).toBeTruthy()
      expect(r.backend).toBe('wasm')
      expect(r.wasmSimd).toBe(true)
      expect(r.wasmThreads).toBeGreaterThanOrEqual(1)
      expect(getTf().getBackend()).toBe('wasm')
      expect(lines[0]).toMatch(/TF\.js backend: wasm .*skipped/)
      expect(backendReport().tensorBackendReason).toMatch(/tfjs-node-gpu/)
    }
    const tf = getTf()
    expect(Array.from(tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync())).toEqual([11])
  })

  it('the util shim restores removed helpers and leaves existing ones alone', () => {
    const u = util as unknown as Record<string, unknown>
    const saved = u.isNullOrUndefined
    try {
      delete u.isNullOrUndefined
      expect(applyTfjsNodeShim()).toBe(true)
      expect((u.isNullOrUndefined as (v: unknown) => boolean)(null)).toBe(true)
      expect((u.isNullOrUndefined as (v: unknown) => boolean)(0)).toBe(false)
      expect(applyTfjsNodeShim()).toBe(false)
    } finally { u.isNullOrUndefined = saved }
  })
})
