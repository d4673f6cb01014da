import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import { WebSocket } from 'ws'
import { startServer, parseServeArgs, type RunningServer } from '../../../main/hosts/server'
import { createClient, webSocketPort } from '#common/rpc'
import type { Handlers } from '#common/contract'
import type { Engine } from '../../../main/engine/engine'

const token = '0123456789abcdef0123456789abcdef'
let dir: string
let srv: RunningServer
let disposed = 0
const status = { version: '0.1.0', node: process.version, platform: 'linux', tensorBackend: 'cpu', tensorBackendReason: 'test', native: { loaded: false, reason: 'not built' }, threads: 2, memory: { totalBytes: 1, rssBytes: 1 } }

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amalgam-srv-'))
  mkdirSync(join(dir, 'static', 'assets'), { recursive: true })
  writeFileSync(join(dir, 'static', 'index.html'), '<!doctype html><title>t</title>')
  writeFileSync(join(dir, 'static', 'assets', 'app-1.js'), 'console.log(1)')
  writeFileSync(join(dir, 'static', 'assets', 'app-1.css'), 'body{}')
  writeFileSync(join(dir, 'secret.txt'), 'outside the static root')
  srv = await startServer({
    token, staticDir: join(dir, 'static'), testHooks: true,
    engine: (emit) => ({
      'engine.status': async () => status,
      'jobs.cancel': async ({ jobId }: { jobId: string }) => { emit('job.done', { jobId, status: 'cancelled' }); return { cancelled: true } },
      dispose: async () => { disposed++ },
    }) as unknown as Engine,
  })
})
afterAll(async () => { await srv?.close(); rmSync(dir, { recursive: true, force: true }) })

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; type?: string; body: string; headers: Record<string, unknown> }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path, headers, method: 'GET' }, (res) => {
      let body = ''
      res.on('data', (c) => { body += c })
      res.on('end', () => ok({ status: res.statusCode!, type: res.headers['content-type'], body, headers: res.headers }))
    })
    req.on('error', fail)
    req.end()
  })
}
function post(path: string, body: unknown): Promise<number> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => ok(res.statusCode!)) })
    req.on('error', fail)
    req.end(JSON.stringify(body))
  })
}
function wsOpen(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; status: number | null }> {
  return new Promise((ok) => {
    const ws = new WebSocket(url, { headers })
    ws.once('open', () => ok({ ws, status: null }))
    ws.once('unexpected-response', (_req, res) => ok({ ws, status: res.statusCode ?? null }))
    ws.once('error', () => {})
  })
}

describe('amalgam serve', () => {
  it('binds 127.0.0.1 and serves the renderer with MIME types', async () => {
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    const index = await get('/')
    expect(index.status).toBe(200)
    expect(index.type).toBe('text/html; charset=utf-8')
    expect(index.headers['x-content-type-options']).toBe('nosniff')
    expect((await get('/assets/app-1.js')).type).toBe('text/javascript; charset=utf-8')
    const css = await get('/assets/app-1.css')
    expect(css.type).toBe('text/css; charset=utf-8')
    expect(css.headers['cache-control']).toContain('immutable')
    expect((await get('/nope.js')).status).toBe(404)
  })

  it('never serves files outside the static folder', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%00']) {
      const r = await get(p)
      expect([400, 403, 404]).toContain(r.status)
      expect(r.body).not.toContain('outside the static root')
    }
  })

  it('refuses requests for another Host (DNS rebinding)', async () => {
    expect((await get('/', { host: 'evil.example:80' })).status).toBe(403)
  })

  it('requires the token on the WebSocket', async () => {
    const base = `ws://127.0.0.1:${srv.port}/rpc`
    for (const url of [base, `${base}?token=${'0'.repeat(32)}`, `${base}?token=short`]) {
      const { ws, status } = await wsOpen(url)
      expect(status).toBe(401)
      ws.terminate()
    }
    const foreign = await wsOpen(`${base}?token=${token}`, { origin: 'http://evil.example' })
    expect(foreign.status).toBe(401)
    foreign.ws.terminate()
  })

  it('serves the engine contract over the WebSocket with events', async () => {
    const { ws, status: st } = await wsOpen(`ws://127.0.0.1:${srv.port}/rpc?token=${token}`)
    expect(st).toBeNull()
    const client = createClient(webSocketPort(ws))
    const done: string[] = []
    client.on('job.done', (e) => done.push(e.jobId))
    expect((await client.call('engine.status')).tensorBackend).toBe('cpu')
    expect(await client.call('jobs.cancel', { jobId: 'j1' })).toEqual({ cancelled: true })
    const bad = await client.call('jobs.cancel', {} as never).catch((e) => e)
    expect(bad.message).toBe('jobs.cancel: jobId is required')
    const unknown = await client.call('pools.list').catch((e) => e)
    expect(unknown.code).toBe('UNKNOWN_METHOD')
    const dispose = await client.call('dispose' as never).catch((e) => e)
    expect(dispose.code).toBe('UNKNOWN_METHOD')
    // the test hook broadcasts to every connection
    const restarted = new Promise<string>((r) => client.on('engine.restarted', (e) => r(e.reason)))
    expect(await post(`/__test/emit?token=${token}`, { name: 'engine.restarted', payload: { reason: 'test' } })).toBe(204)
    expect(await restarted).toBe('test')
    expect(done).toEqual(['j1'])
    client.close()
    void (null as unknown as Handlers)
  })

  it('hides the test hook without the token', async () => {
    expect(await post('/__test/emit', { name: 'engine.restarted', payload: { reason: 'x' } })).toBe(404)
  })
})

describe('serve options', () => {
  it('parses the command line and refuses non-loopback hosts', () => {
    expect(parseServeArgs(['--port', '0', '--token', token])).toMatchObject({ port: 0, token, testHooks: false })
    expect(() => parseServeArgs(['--host', '0.0.0.0'])).toThrow('serve: --host 0.0.0.0 refused; the engine binds 127.0.0.1 only')
    expect(() => parseServeArgs(['--port', '70000'])).toThrow('serve: --port must be an integer in 0..65535 (got 70000)')
    expect(() => parseServeArgs(['--port'])).toThrow('serve: --port needs a value')
    expect(() => parseServeArgs(['--bogus'])).toThrow(/unknown option --bogus/)
  })
  it('refuses a bad token, a non-loopback host and a missing renderer', async () => {
    await expect(startServer({ token: 'xyz', staticDir: join(dir, 'static'), engine: () => ({}) as Engine })).rejects.toThrow('token must be 32 hexadecimal characters')
    await expect(startServer({ host: '0.0.0.0' as '127.0.0.1', staticDir: join(dir, 'static') })).rejects.toThrow(/host must be 127.0.0.1/)
    await expect(startServer({ staticDir: join(dir, 'missing'), engine: () => ({}) as Engine })).rejects.toThrow(/built renderer was not found/)
  })
  it('disposes the engine on close', async () => {
    const s = await startServer({ staticDir: join(dir, 'static'), engine: () => ({ dispose: async () => { disposed++ } }) as unknown as Engine })
    expect(s.token).toMatch(/^[0-9a-f]{32}$/)
    const before = disposed
    await s.close()
    expect(disposed).toBe(before + 1)
  })
})
