// `amalgam serve`: the engine host for browsers. Serves the built renderer over HTTP and the engine
// contract over a WebSocket at /rpc. Binds 127.0.0.1 only and requires a random token, because
// anything that can reach the engine can read and write files as the user.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { WebSocketServer, type WebSocket } from 'ws'
import { EventHub, serve, webSocketPort } from '#common/rpc'
import { validators } from '#common/validate'
import { AmalgamError } from '#common/errors'
import type { EngineEvents, EventName } from '#common/contract'
import type { Engine, Emit } from '../engine/engine'

export interface ServerOptions {
  /** only loopback is allowed; the option exists so a caller cannot believe it chose otherwise */
  host?: '127.0.0.1'
  /** 0 picks a free port */
  port?: number
  /** 32 hex characters; random when not given */
  token?: string
  workspaceDir?: string
  /** where the recent-workspaces list lives (default: the OS app-data folder); tests use a temp dir */
  appDataDir?: string
  /** the built renderer (out/renderer); found next to this file when not given */
  staticDir?: string
  /** enables POST /__test/emit (tests push engine events, e.g. engine.restarted) */
  testHooks?: boolean
  /** for tests and previews: build this engine (given the broadcast emit) instead of the real one */
  engine?: (emit: Emit) => Engine | Promise<Engine>
  log?: (line: string) => void
}

export interface RunningServer { url: string; port: number; token: string; close(): Promise<void> }

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}

const here = dirname(fileURLToPath(import.meta.url))

/** The built renderer, whether this file runs from source (main/hosts) or bundled (out/main/...). */
export function findRendererDir(): string | null {
  for (const c of [resolve(here, '../renderer'), resolve(here, '../../out/renderer'), resolve(here, '../../../out/renderer'), resolve(process.cwd(), 'out/renderer')]) {
    if (existsSync(join(c, 'index.html'))) return c
  }
  return null
}

function tokenMatches(given: string | null, token: string): boolean {
  if (!given) return false
  const a = Buffer.from(given), b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Refuse requests whose Host is not loopback: stops DNS-rebinding pages from reaching the engine. */
function hostAllowed(req: IncomingMessage, port: number): boolean {
  const h = (req.headers.host ?? '').toLowerCase()
  return h === `127.0.0.1:${port}` || h === `localhost:${port}`
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  if (opts.host !== undefined && opts.host !== '127.0.0.1') {
    throw new AmalgamError('BAD_REQUEST', `serve: host must be 127.0.0.1 (got ${String(opts.host)}); the engine is never exposed to the network`)
  }
  const token = opts.token ?? randomBytes(16).toString('hex')
  if (!/^[0-9a-f]{32}$/i.test(token)) throw new AmalgamError('BAD_REQUEST', 'serve: token must be 32 hexadecimal characters')
  const staticDir = opts.staticDir ?? findRendererDir()
  if (!staticDir || !existsSync(join(staticDir, 'index.html'))) {
    throw new AmalgamError('NOT_FOUND', `serve: the built renderer was not found (${staticDir ?? 'out/renderer'}/index.html); run \`npx electron-vite build\` first`)
  }
  const root = resolve(staticDir)
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'))

  const hub = new EventHub()
  const emit: Emit = (name, payload) => hub.emit(name, payload)
  // loaded lazily so a host given an engine (tests, previews) does not pull in the tensor stack
  const engine = opts.engine ? await opts.engine(emit) : await (await import('../engine/engine')).createEngine({ workspaceDir: opts.workspaceDir, appDataDir: opts.appDataDir, emit, log })

  let actualPort = 0
  const http = createServer((req, res) => {
    void handleHttp(req, res).catch((e) => {
      log(`serve: ${req.method} ${req.url}: ${e instanceof Error ? e.message : String(e)}`)
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' })
      res.end('internal error')
    })
  })

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req, actualPort)) { res.writeHead(403, { 'Content-Type': 'text/plain' }); res.end('forbidden host'); return }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${actualPort}`)

    if (url.pathname.startsWith('/__test/')) {
      if (!opts.testHooks || !tokenMatches(url.searchParams.get('token'), token)) { res.writeHead(404); res.end(); return }
      if (req.method === 'POST' && url.pathname === '/__test/emit') {
        const body = JSON.parse(await readBody(req)) as { name: EventName; payload: EngineEvents[EventName] }
        hub.emit(body.name, body.payload as never)
        res.writeHead(204); res.end(); return
      }
      res.writeHead(404); res.end(); return
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { Allow: 'GET, HEAD' }); res.end(); return }
    let rel: string
    try { rel = decodeURIComponent(url.pathname) } catch { res.writeHead(400); res.end('bad path'); return }
    if (rel.includes('\0')) { res.writeHead(400); res.end('bad path'); return }
    if (rel === '/' || rel === '') rel = '/index.html'
    const file = resolve(root, '.' + rel)
    if (file !== root && !file.startsWith(root + sep)) { res.writeHead(403); res.end('forbidden'); return }
    const st = await stat(file).catch(() => null)
    if (!st || !st.isFile()) { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('not found'); return }
    const type = MIME[extname(file).toLowerCase()] ?? 'application/octet-stream'
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': type,
      'Content-Length': st.size,
      // hashed asset names can be cached forever; index.html must be fresh so a rebuild is picked up
      'Cache-Control': rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    })
    if (req.method === 'HEAD') { res.end(); return }
    createReadStream(file).pipe(res)
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 })
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${actualPort}`)
    const origin = req.headers.origin
    const originOk = !origin || origin === `http://127.0.0.1:${actualPort}` || origin === `http://localhost:${actualPort}`
    if (url.pathname !== '/rpc' || !hostAllowed(req, actualPort) || !originOk || !tokenMatches(url.searchParams.get('token'), token)) {
      socket.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      socket.destroy()
      return
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const conn = serve(webSocketPort(ws), engine, validators, {
        onInternalError: (m, e) => log(`engine: ${m} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`),
      })
      hub.add(conn)
    })
  })

  await new Promise<void>((ok, fail) => {
    http.once('error', fail)
    http.listen(opts.port ?? 0, '127.0.0.1', () => { http.off('error', fail); ok() })
  })
  actualPort = (http.address() as { port: number }).port
  const url = `http://127.0.0.1:${actualPort}/`

  return {
    url,
    port: actualPort,
    token,
    async close() {
      hub.closeAll()
      for (const c of wss.clients) c.terminate()
      await new Promise<void>((r) => wss.close(() => r()))
      http.closeAllConnections()
      await new Promise<void>((r) => http.close(() => r()))
      await engine.dispose()
    },
  }
}

function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<string> {
  return new Promise((ok, fail) => {
    let size = 0
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) { fail(new AmalgamError('BAD_REQUEST', 'request body too large')); req.destroy(); return }
      chunks.push(c)
    })
    req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')))
    req.on('error', fail)
  })
}

export interface ServeArgs { port: number; token?: string; workspaceDir?: string; appDataDir?: string; staticDir?: string; testHooks: boolean }

export function parseServeArgs(args: string[]): ServeArgs {
  const out: ServeArgs = { port: 0, testHooks: false }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    const value = () => {
      const v = args[++i]
      if (v === undefined || v.startsWith('--')) throw new AmalgamError('BAD_REQUEST', `serve: ${a} needs a value`)
      return v
    }
    switch (a) {
      case '--port': {
        const v = value()
        const n = Number(v)
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new AmalgamError('BAD_REQUEST', `serve: --port must be an integer in 0..65535 (got ${v})`)
        out.port = n
        break
      }
      case '--token': out.token = value(); break
      case '--workspace': out.workspaceDir = resolve(value()); break
      case '--static': out.staticDir = resolve(value()); break
      case '--app-data': out.appDataDir = resolve(value()); break
      case '--host': {
        const v = value()
        if (v !== '127.0.0.1' && v !== 'localhost') throw new AmalgamError('BAD_REQUEST', `serve: --host ${v} refused; the engine binds 127.0.0.1 only`)
        break
      }
      case '--test-hooks': out.testHooks = true; break
      default: throw new AmalgamError('BAD_REQUEST', `serve: unknown option ${a} (options: --port N, --token HEX32, --workspace DIR, --app-data DIR, --static DIR)`)
    }
  }
  return out
}

/** The `amalgam serve` command: start, print the URL with the token, stop on SIGINT/SIGTERM. */
export async function runServeCommand(args: string[]): Promise<RunningServer> {
  const a = parseServeArgs(args)
  const s = await startServer({ port: a.port, token: a.token, workspaceDir: a.workspaceDir, appDataDir: a.appDataDir, staticDir: a.staticDir, testHooks: a.testHooks })
  process.stdout.write(`Amalgam serving at ${s.url}?token=${s.token}\n`)
  const stop = () => { void s.close().then(() => process.exit(0)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return s
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  runServeCommand(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`amalgam serve: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  })
}
