import { describe, expect, it } from 'vitest'

describe('initTensorBackend with AMALGAM_TF_BACKEND', () => {
  it('rejects an unknown override naming the variable', async () => {
    process.env.AMALGAM_TF_BACKEND = 'gpu'
    const { initTensorBackend } = await import('../../../main/engine/backends/select')
    await expect(initTensorBackend({ log: () => {} })).rejects.toThrow(/AMALGAM_TF_BACKEND = 'gpu'/)
  })

  it('honours the override, logs once, and shares one tf instance', async () => {
    process.env.AMALGAM_TF_BACKEND = 'cpu'
    const { initTensorBackend, getTf, backendReport } = await import('../../../main/engine/backends/select')
    const lines: string[] = []
    const r = await initTensorBackend({ log: (l) => lines.push(l) })
    expect(r.backend).toBe('cpu')
    expect(r.reason).toBe('AMALGAM_TF_BACKEND override')
    // a second call (even with another preference) keeps the override and does not log again
    expect(await initTensorBackend({ prefer: 'wasm', log: (l) => lines.push(l) })).toBe(r)
    expect(lines).toHaveLength(1)
    const tf = getTf()
    expect(tf.getBackend()).toBe('cpu')
    const tfjs = await import('@tensorflow/tfjs')
    expect(tfjs.getBackend()).toBe('cpu') // same module instance as the rest of the engine
    const rep = backendReport()
    expect(rep.tensorBackend).toBe('cpu')
    expect(rep.node).toBe(process.version)
    expect(rep.threads).toBeGreaterThan(0)
    expect(rep.memory.totalBytes).toBeGreaterThan(0)
    expect(typeof rep.native.loaded).toBe('boolean')
    delete process.env.AMALGAM_TF_BACKEND
  })
})
