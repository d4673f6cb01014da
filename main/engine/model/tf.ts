// The one place the model, training and benchmark code gets TF.js from. Backend selection belongs
// to main/engine/backends/select.ts (tensorflow → wasm → cpu); this module refuses the 'cpu'
// backend, which is 15–80× slower (engine-facts.md) and would make evaluation unusable, and lets
// training insist on wasm so the committed checkpoints are reproducible bit for bit.
import * as tfjs from '@tensorflow/tfjs'
import { AmalgamError } from '#common/errors'
import { initTensorBackend, getTf, type Tf } from '../backends/select'

export type { Tf }

let ready: Promise<Tf> | null = null

/**
 * TF.js with a fast backend ready; call once before any model work. `prefer: 'wasm'` is for
 * deterministic training (build:mini8).
 */
export function getModelTf(opts: { prefer?: 'wasm' | 'tensorflow' } = {}): Promise<Tf> {
  if (!ready || opts.prefer) {
    ready = (async () => {
      const r = await initTensorBackend(opts.prefer ? { prefer: opts.prefer } : {})
      if (r.backend === 'cpu') throw new AmalgamError('INTERNAL', `TF.js started only the cpu backend (${r.skipped.map((s) => `${s.option}: ${s.reason}`).join('; ')}); the model runtime needs wasm or tensorflow`)
      const t = getTf()
      tf = t
      return t
    })().catch((e) => { ready = null; throw e })
  }
  return ready
}

/**
 * The TF.js namespace for code that runs after getModelTf() resolved (a live binding: it becomes
 * the instance the backend selection chose).
 */
export let tf: Tf = tfjs
