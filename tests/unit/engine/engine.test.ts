// The composed engine, in-process (the third host): status, catalogue, workspace, through the real RPC layer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { writeTinyClipFolder } from '../../fixtures/make-tiny-checkpoints'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createEngine, type Engine } from '../../../main/engine/engine'
import { createClient, EventHub, memoryPair, serve, type EngineClient } from '#common/rpc'
import { validators } from '#common/validate'

let dir: string
let engine: Engine
let client: EngineClient
const hub = new EventHub()

beforeAll(async () => {
  process.env.AMALGAM_TF_BACKEND ??= 'cpu'
  dir = mkdtempSync(join(tmpdir(), 'amalgam-engine-'))
  engine = await createEngine({ workspaceDir: join(dir, 'ws'), appDataDir: join(dir, 'appdata'), emit: (n, v) => hub.emit(n, v), log: () => {} })
  const [a, b] = memoryPair()
  hub.add(serve(b, engine, validators))
  client = createClient(a)
})
afterAll(async () => { client?.close(); hub.closeAll(); await engine?.dispose(); rmSync(dir, { recursive: true, force: true }) })

describe('createEngine', () => {
  it('implements every method of the contract', () => {
    for (const m of Object.keys(validators)) expect(typeof (engine as unknown as Record<string, unknown>)[m], m).toBe('function')
  })
  it('reports the tensor backend it selected and the native linear algebra state', async () => {
    const s = await client.call('engine.status')
    expect(['cpu', 'wasm', 'tensorflow']).toContain(s.tensorBackend)
    expect(s.tensorBackendReason).not.toBe('initTensorBackend() has not run')
    expect(typeof s.native.loaded).toBe('boolean')
    expect(s.threads).toBeGreaterThan(0)
    expect(s.node).toBe(process.version)
  })
  it('lists the merge methods with parameter schemas', async () => {
    const ms = await client.call('methods.list')
    const names = ms.map((m) => m.name)
    expect(names).toContain('task_arithmetic')
    expect(names).toContain('ties_merging')
    for (const m of ms) for (const p of m.params) expect(p.description.length, `${m.name}.${p.name}`).toBeGreaterThan(0)
  })
  it('opens the workspace given at start', async () => {
    const w = await client.call('workspace.current')
    expect(w?.dir).toBe(join(dir, 'ws'))
    expect(await client.call('pools.list')).toEqual([])
  })
  it('hashes the weight files of a checkpoint (model cards)', async () => {
    const m = join(dir, 'tiny')
    await writeTinyClipFolder(m, { seed: 5, shardTensors: 20 })
    const r = await client.call('checkpoints.hash', { path: m })
    expect(r.files.length).toBeGreaterThan(1)
    for (const f of r.files) {
      expect(f.sha256).toBe(createHash('sha256').update(readFileSync(f.file)).digest('hex'))
      expect(f.bytes).toBe(readFileSync(f.file).length)
    }
  })
  it('maps engine errors with their codes through RPC', async () => {
    const e = await client.call('checkpoints.inspect', { path: join(dir, 'missing.safetensors') }).catch((x) => x)
    expect(e.code).toMatch(/NOT_FOUND|BAD_FILE|IO/)
    expect(e.message).toContain('missing.safetensors')
  })
})
