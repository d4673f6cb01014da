// The Electron utility-process host without Electron: a fake process.parentPort hands it Node
// MessagePorts shaped like MessagePortMain, as main/app/engine-process.ts does with real ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventEmitter } from 'node:events'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type EngineClient, type PortLike } from '#common/rpc'

class FakeParentPort extends EventEmitter {
  sent: unknown[] = []
  postMessage(m: unknown) { this.sent.push(m); this.emit('sent', m) }
}

/** Node MessagePort → the MessagePortMain surface utility.ts uses (on/start/postMessage/close). */
function asMainPort(p: MessagePort) {
  return {
    on(ev: 'message' | 'close', fn: (e?: { data: unknown }) => void) { if (ev === 'message') p.on('message', (data) => fn({ data })); else p.on('close', () => fn()) },
    postMessage: (m: unknown) => p.postMessage(m),
    start: () => p.start(),
    close: () => p.close(),
  }
}
function clientPort(p: MessagePort): PortLike {
  const port: PortLike = { postMessage: (m) => p.postMessage(m), onmessage: null, onclose: null, close: () => p.close() }
  p.on('message', (data) => port.onmessage?.({ data }))
  return port
}

const parent = new FakeParentPort()
let dir: string
const clients: EngineClient[] = []
function connectWindow(): EngineClient {
  const { port1, port2 } = new MessageChannel()
  parent.emit('message', { data: { type: 'connect', windowId: clients.length + 1 }, ports: [asMainPort(port1)] })
  const c = createClient(clientPort(port2))
  clients.push(c)
  return c
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amalgam-utility-'))
  process.env.AMALGAM_WORKSPACE = join(dir, 'ws')
  process.env.AMALGAM_USER_DATA = join(dir, 'user-data')
  process.env.AMALGAM_TF_BACKEND ??= 'cpu'
  ;(process as unknown as { parentPort: FakeParentPort }).parentPort = parent
  const ready = new Promise<void>((r) => parent.on('sent', (m: { type?: string }) => { if (m?.type === 'ready') r() }))
  await import('../../../main/hosts/utility')
  // the module is evaluated (listener attached) but the engine is still starting: this window's
  // port must be queued and served once the engine is up
  expect(parent.sent.some((m) => (m as { type: string }).type === 'ready')).toBe(false)
  connectWindow()
  await ready
})
afterAll(() => {
  for (const c of clients) c.close()
  delete (process as unknown as { parentPort?: unknown }).parentPort
  rmSync(dir, { recursive: true, force: true })
})

describe('utility-process engine host', () => {
  it('serves the engine on a port that arrived before the engine was ready', async () => {
    const s = await clients[0].call('engine.status')
    expect(['cpu', 'wasm', 'tensorflow']).toContain(s.tensorBackend)
    expect((await clients[0].call('workspace.current'))?.dir).toBe(join(dir, 'ws'))
  })
  it('serves each window on its own port and broadcasts events to all of them', async () => {
    const second = connectWindow()
    const seen: string[][] = [[], []]
    clients[0].on('workspace.changed', (e) => seen[0].push(e.dir))
    second.on('workspace.changed', (e) => seen[1].push(e.dir))
    expect((await second.call('methods.list')).length).toBeGreaterThan(5)
    const other = join(dir, 'ws2')
    await second.call('workspace.open', { dir: other, create: true })
    await new Promise((r) => setTimeout(r, 50))
    expect(seen).toEqual([[other], [other]])
  })
  it('validates params from the window like any host', async () => {
    const e = await clients[0].call('pools.add', { name: 'x', base: 3 } as never).catch((x) => x)
    expect(e.message).toBe('pools.add: base must be a string, got number')
  })
  it('reported ready to main and nothing fatal', () => {
    expect(parent.sent.some((m) => (m as { type: string }).type === 'fatal')).toBe(false)
  })
})
