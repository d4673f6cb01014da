import { afterEach, describe, expect, it } from 'vitest'
import { createClient, EventHub, memoryPair, serve, webSocketPort, type EngineClient, type PortLike } from '#common/rpc'
import { validators } from '#common/validate'
import { AmalgamError } from '#common/errors'
import type { CallCtx, Handlers } from '#common/contract'
import { WebSocketServer, WebSocket } from 'ws'

const open: Array<() => void> = []
afterEach(() => { for (const f of open.splice(0)) f() })

function setup(h: Partial<Handlers>): { client: EngineClient; server: ReturnType<typeof serve>; ports: [PortLike, PortLike] } {
  const ports = memoryPair()
  const server = serve(ports[1], h as Handlers, validators)
  const client = createClient(ports[0])
  open.push(() => { client.close(); server.close() })
  return { client, server, ports }
}

const status = { version: '0.1.0', node: 'v20', platform: 'linux', tensorBackend: 'cpu', tensorBackendReason: 'test', native: { loaded: false }, threads: 2, memory: { totalBytes: 1, rssBytes: 1 } }

describe('rpc over an in-memory channel', () => {
  it('returns results and keeps responses matched to requests when they finish out of order', async () => {
    const delays: Record<string, number> = { a: 30, b: 1, c: 15 }
    const { client } = setup({
      'experiments.get': async ({ id }) => {
        await new Promise((r) => setTimeout(r, delays[id]))
        return { id, recipe: `recipe ${id}` } as never
      },
    })
    const order: string[] = []
    const results = await Promise.all(['a', 'b', 'c'].map((id) =>
      client.call('experiments.get', { id }).then((r) => { order.push(r.id); return r.recipe })))
    expect(results).toEqual(['recipe a', 'recipe b', 'recipe c'])
    expect(order).toEqual(['b', 'c', 'a'])
  })

  it('delivers requests to the server in the order they were sent', async () => {
    const seen: string[] = []
    const { client } = setup({ 'jobs.cancel': async ({ jobId }) => { seen.push(jobId); return { cancelled: true } } })
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.call('jobs.cancel', { jobId: `j${i}` })))
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => `j${i}`))
  })

  it('calls methods without params', async () => {
    const { client } = setup({ 'engine.status': async () => status })
    expect((await client.call('engine.status')).tensorBackend).toBe('cpu')
  })

  it('maps AmalgamError through the wire with code, message and details', async () => {
    const { client } = setup({ 'checkpoints.inspect': async ({ path }) => { throw new AmalgamError('BAD_FILE', `${path}: header length beyond the file`, { tensor: 'w' }) } })
    const err = await client.call('checkpoints.inspect', { path: '/x/model.safetensors' }).catch((e) => e)
    expect(err).toBeInstanceOf(AmalgamError)
    expect(err.code).toBe('BAD_FILE')
    expect(err.message).toBe('/x/model.safetensors: header length beyond the file')
    expect(err.details).toEqual({ tensor: 'w' })
  })

  it('maps plain errors to INTERNAL and reports them to the host', async () => {
    const ports = memoryPair()
    const internal: string[] = []
    const server = serve(ports[1], { 'engine.status': async () => { throw new TypeError('boom') } } as unknown as Handlers, validators,
      { onInternalError: (m, e) => internal.push(`${m}: ${(e as Error).message}`) })
    const client = createClient(ports[0])
    open.push(() => { client.close(); server.close() })
    const err = await client.call('engine.status').catch((e) => e)
    expect(err.code).toBe('INTERNAL')
    expect(err.message).toBe('boom')
    expect(internal).toEqual(['engine.status: boom'])
  })

  it('rejects invalid params with BAD_REQUEST naming the field, without calling the handler', async () => {
    let called = 0
    const { client } = setup({ 'pools.add': async () => { called++; return {} as never } })
    const err = await client.call('pools.add', { name: 'p', base: '/b', models: ['/m1', 7] } as never).catch((e) => e)
    expect(err.code).toBe('BAD_REQUEST')
    expect(err.message).toBe('pools.add: models[1] must be a string, got number')
    const err2 = await client.call('pools.add', { name: 'p', base: '/b', models: ['/m'], extra: 1 } as never).catch((e) => e)
    expect(err2.message).toBe('pools.add: extra is not a known field')
    const err3 = await client.call('pools.add', { name: 'p', models: ['/m'] } as never).catch((e) => e)
    expect(err3.message).toBe('pools.add: base is required')
    expect(called).toBe(0)
  })

  it('rejects unknown methods', async () => {
    const { client } = setup({})
    const err = await client.call('no.such' as never).catch((e) => e)
    expect(err.code).toBe('UNKNOWN_METHOD')
    expect(err.message).toContain('no.such')
    const err2 = await client.call('toString' as never).catch((e) => e)
    expect(err2.code).toBe('UNKNOWN_METHOD')
  })

  it('fans events out to every subscriber, from ctx.emit and from a hub', async () => {
    const hub = new EventHub()
    const handlers = {
      'jobs.cancel': async ({ jobId }: { jobId: string }, ctx: { emit: Function }) => {
        ctx.emit('job.log', { jobId, line: 'only to the caller' })
        hub.emit('job.done', { jobId, status: 'cancelled' })
        return { cancelled: true }
      },
    } as unknown as Handlers
    const clients: EngineClient[] = []
    for (let i = 0; i < 2; i++) {
      const [a, b] = memoryPair()
      const conn = serve(b, handlers, validators)
      hub.add(conn)
      const c = createClient(a)
      clients.push(c)
      open.push(() => { c.close(); conn.close() })
    }
    const logs: string[][] = [[], []]
    const done: string[][] = [[], []]
    clients.forEach((c, i) => {
      c.on('job.log', (e) => logs[i].push(e.line))
      c.on('job.done', (e) => done[i].push(`${e.jobId}:${e.status}`))
    })
    const extra: string[] = []
    const off = clients[0].on('job.done', (e) => extra.push(e.jobId))
    await clients[0].call('jobs.cancel', { jobId: 'j1' })
    await new Promise((r) => setTimeout(r, 20))
    expect(logs).toEqual([['only to the caller'], []])
    expect(done).toEqual([['j1:cancelled'], ['j1:cancelled']])
    expect(extra).toEqual(['j1'])
    off()
    hub.emit('job.done', { jobId: 'j2', status: 'done' })
    await new Promise((r) => setTimeout(r, 20))
    expect(extra).toEqual(['j1'])
    expect(done[1]).toEqual(['j1:cancelled', 'j2:done'])
  })

  it('rejects pending calls when the connection closes', async () => {
    const { client, ports } = setup({ 'engine.status': () => new Promise(() => {}) })
    const p = client.call('engine.status')
    ports[1].close!()
    const err = await p.catch((e) => e)
    expect(err.code).toBe('IO')
    expect(err.message).toMatch(/engine.status: engine connection closed/)
    expect((await client.call('engine.status').catch((e) => e)).code).toBe('IO')
  })

  it('a throwing event listener does not stop the others', async () => {
    const hubConn = setup({})
    const got: string[] = []
    hubConn.client.on('workspace.changed', () => { throw new Error('bad listener') })
    hubConn.client.on('workspace.changed', (e) => got.push(e.dir))
    const orig = console.error; console.error = () => {}
    try {
      hubConn.server.emit('workspace.changed', { dir: '/w' })
      await new Promise((r) => setTimeout(r, 20))
    } finally { console.error = orig }
    expect(got).toEqual(['/w'])
  })
})

describe('rpc over a WebSocket (JSON framing)', () => {
  it('round-trips calls, errors and events between ws client and server', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((r) => wss.once('listening', r))
    const port = (wss.address() as { port: number }).port
    wss.on('connection', (ws) => {
      const conn = serve(webSocketPort(ws), {
        'engine.status': async () => status,
        'jobs.cancel': async ({ jobId }: { jobId: string }, ctx: CallCtx) => { ctx.emit('job.done', { jobId, status: 'cancelled' }); return { cancelled: true } },
      } as unknown as Handlers, validators)
      void conn
    })
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
    const client = createClient(webSocketPort(ws))   // requests queue until the socket opens
    const events: string[] = []
    client.on('job.done', (e) => events.push(e.jobId))
    expect((await client.call('engine.status')).platform).toBe('linux')
    expect(await client.call('jobs.cancel', { jobId: 'x' })).toEqual({ cancelled: true })
    const err = await client.call('jobs.cancel', { jobId: 3 } as never).catch((e) => e)
    expect(err.message).toBe('jobs.cancel: jobId must be a string, got number')
    expect(events).toEqual(['x'])
    const pending = client.call('engine.status')
    for (const c of wss.clients) c.terminate()
    // either the response or the close wins the race; both are fine, a hang is not
    await pending.catch(() => {})
    await new Promise((r) => setTimeout(r, 50))
    expect((await client.call('engine.status').catch((e) => e)).code).toBe('IO')
    await new Promise((r) => wss.close(r))
  })
})
