// Connects the stores to the in-memory fake engine through the real RPC layer and validators.
import { createPinia, setActivePinia } from 'pinia'
import { createClient, memoryPair, serve, type EngineClient } from '#common/rpc'
import { validators } from '#common/validate'
import type { DesktopApi } from '#common/contract'
import { setDesktop, setEngineClient } from '../../renderer/src/stores/client'
import { createFakeEngine, type FakeEngine } from './fake-engine'

export interface Harness { fake: FakeEngine; client: EngineClient; progress: Array<number | null>; close(): void }

export function setup(): Harness {
  setActivePinia(createPinia())
  const fake = createFakeEngine()
  const [a, b] = memoryPair()
  const conn = serve(b, fake, validators)
  fake.emitter.emit = (n, v) => conn.emit(n, v)
  const client = createClient(a)
  setEngineClient(client)
  const progress: Array<number | null> = []
  const desktop: DesktopApi = {
    kind: 'browser', pickDirectory: async () => null, pickCheckpoints: async () => [], reveal: async () => {},
    setProgress: async (f) => { progress.push(f) },
  }
  setDesktop(desktop)
  return { fake, client, progress, close: () => { client.close(); conn.close() } }
}

/** let RPC messages and events cross the channel */
export const flush = async (ms = 15) => { await new Promise((r) => setTimeout(r, ms)) }
