// Transport-agnostic RPC between a client (renderer, tests, CLI) and the engine host.
// Written once against PortLike so the same code runs over an Electron MessagePort, a WebSocket
// (JSON framing) and an in-memory MessageChannel. Pure TypeScript: no node:, electron or DOM imports;
// the WebSocket adapter takes a structural type that both the browser's WebSocket and the `ws` package satisfy.
import type { CallCtx, EngineEvents, EventName, Handlers, In, Method, Out } from './contract'
import { AmalgamError, fromWireError, toWireError, type WireError } from './errors'

export interface PortLike {
  postMessage(message: unknown): void
  onmessage: ((event: { data: unknown }) => void) | null
  /** set by the RPC layer; adapters call it when the carrier goes away (socket closed, process died) */
  onclose?: ((reason: string) => void) | null
  close?(): void
}

export type Wire =
  | { t: 'req'; id: number; m: string; p: unknown }
  | { t: 'res'; id: number; ok: true; v: unknown }
  | { t: 'res'; id: number; ok: false; e: WireError }
  | { t: 'evt'; n: string; v: unknown }

/** One runtime validator per method: returns the typed params or throws AmalgamError('BAD_REQUEST'). */
export type Validators = { [M in Method]: (params: unknown) => In<M> }

type ParamsArg<M extends Method> = In<M> extends void ? [params?: undefined] : [params: In<M>]
type Listener<E extends EventName> = (payload: EngineEvents[E]) => void

export interface EngineClient {
  call<M extends Method>(method: M, ...params: ParamsArg<M>): Promise<Out<M>>
  on<E extends EventName>(event: E, fn: Listener<E>): () => void
  close(): void
}

function isWire(x: unknown): x is Wire {
  if (!x || typeof x !== 'object') return false
  const t = (x as { t?: unknown }).t
  return t === 'req' || t === 'res' || t === 'evt'
}

export function createClient(port: PortLike): EngineClient {
  let nextId = 1
  let closedReason: string | null = null
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void; method: string }>()
  const subs = new Map<string, Set<(v: unknown) => void>>()

  const failAll = (reason: string) => {
    closedReason = reason
    for (const [id, p] of pending) {
      pending.delete(id)
      p.reject(new AmalgamError('IO', `${p.method}: engine connection closed (${reason})`))
    }
  }

  port.onmessage = ({ data }) => {
    if (!isWire(data)) return
    if (data.t === 'res') {
      const p = pending.get(data.id)
      if (!p) return
      pending.delete(data.id)
      if (data.ok) p.resolve(data.v)
      else p.reject(fromWireError(data.e))
    } else if (data.t === 'evt') {
      const set = subs.get(data.n)
      if (!set) return
      // a listener that throws must not stop the others from hearing the event
      for (const fn of [...set]) {
        try { fn(data.v) } catch (e) { console.error(`listener for ${data.n} failed`, e) }
      }
    }
  }
  port.onclose = (reason) => failAll(reason)

  return {
    call(method, ...args) {
      if (closedReason !== null) {
        return Promise.reject(new AmalgamError('IO', `${method}: engine connection closed (${closedReason})`))
      }
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method })
        try {
          port.postMessage({ t: 'req', id, m: method, p: args[0] } satisfies Wire)
        } catch (e) {
          pending.delete(id)
          reject(new AmalgamError('IO', `${method}: could not send request: ${e instanceof Error ? e.message : String(e)}`))
        }
      })
    },
    on(event, fn) {
      let set = subs.get(event)
      if (!set) subs.set(event, (set = new Set()))
      set.add(fn as (v: unknown) => void)
      return () => { set.delete(fn as (v: unknown) => void) }
    },
    close() {
      failAll('client closed')
      subs.clear()
      port.onmessage = null
      port.onclose = null
      port.close?.()
    },
  }
}

export interface ServeOptions {
  /** called for handler failures that are not AmalgamErrors (bugs), for the host's log */
  onInternalError?(method: string, error: unknown): void
}

export interface Connection {
  /** push an event to this client */
  emit<E extends EventName>(name: E, payload: EngineEvents[E]): void
  /** resolves when the carrier closes */
  readonly closed: Promise<string>
  close(): void
}

/** Serve `handlers` on one port. Params are validated before any handler runs (the client is untrusted). */
export function serve(port: PortLike, handlers: Handlers, validators: Validators, opts: ServeOptions = {}): Connection {
  let open = true
  let markClosed!: (reason: string) => void
  const closed = new Promise<string>((r) => { markClosed = r })
  const send = (w: Wire) => {
    if (!open) return
    try { port.postMessage(w) } catch { /* carrier died between check and send; onclose will follow */ }
  }
  const ctx: CallCtx = { emit: (n, v) => send({ t: 'evt', n, v }) }

  const handle = async (req: { id: number; m: string; p: unknown }) => {
    try {
      // a method exists only if the contract has a validator for it and the host implements it, so
      // extra members of the handler object (dispose, helpers) are never reachable from a client
      const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k)
      if (typeof req.m !== 'string' || !own(validators, req.m) || !own(handlers, req.m)) {
        throw new AmalgamError('UNKNOWN_METHOD', `unknown method "${String(req.m)}"`)
      }
      const m = req.m as Method
      const validate = validators[m]
      const params = validate(req.p)
      const fn = handlers[m] as (p: unknown, c: CallCtx) => Promise<unknown>
      const v = await fn(params, ctx)
      send({ t: 'res', id: req.id, ok: true, v: v === undefined ? null : v })
    } catch (e) {
      if (!(e instanceof AmalgamError)) opts.onInternalError?.(req.m, e)
      send({ t: 'res', id: req.id, ok: false, e: toWireError(e) })
    }
  }

  port.onmessage = ({ data }) => {
    if (!isWire(data) || data.t !== 'req') return
    if (typeof data.id !== 'number') return
    void handle(data)
  }
  port.onclose = (reason) => { open = false; markClosed(reason) }

  return {
    emit: (n, v) => send({ t: 'evt', n, v }),
    closed,
    close() {
      if (!open) return
      open = false
      port.onmessage = null
      port.onclose = null
      port.close?.()
      markClosed('server closed')
    },
  }
}

/** Broadcasts engine events (job progress, logs) to every live connection of a host. */
export class EventHub {
  private readonly conns = new Set<Connection>()
  add(c: Connection): void {
    this.conns.add(c)
    void c.closed.then(() => this.conns.delete(c))
  }
  get size(): number { return this.conns.size }
  emit<E extends EventName>(name: E, payload: EngineEvents[E]): void {
    for (const c of this.conns) c.emit(name, payload)
  }
  closeAll(): void { for (const c of [...this.conns]) c.close(); this.conns.clear() }
}

// ---- adapters ------------------------------------------------------------------------------

/** Both sides of an in-memory channel (the global MessageChannel exists in Node ≥ 15 and browsers). */
export function memoryPair(): [PortLike, PortLike] {
  const ch = new MessageChannel()
  type ChannelPort = InstanceType<typeof MessageChannel>['port1']
  const wrap = (p: ChannelPort, other: () => PortLike): PortLike => {
    const port: PortLike = {
      postMessage: (m) => p.postMessage(m),
      onmessage: null,
      onclose: null,
      close: () => {
        p.close()
        // MessagePort 'close' events are not reliable across runtimes, so tell the other side directly
        queueMicrotask(() => other().onclose?.('peer closed'))
      },
    }
    p.onmessage = (e: { data: unknown }) => port.onmessage?.({ data: e.data })
    return port
  }
  let a!: PortLike, b!: PortLike
  a = wrap(ch.port1, () => b)
  b = wrap(ch.port2, () => a)
  return [a, b]
}

/** What we need from a WebSocket; satisfied by the browser's WebSocket and by `ws`'s WebSocket. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'message', fn: (e: { data: unknown }) => void): void
  addEventListener(type: 'open' | 'close' | 'error', fn: (e: unknown) => void): void
}

const WS_CONNECTING = 0
const WS_OPEN = 1

/** JSON framing over a WebSocket. Messages sent while connecting are queued until 'open'. */
export function webSocketPort(ws: WebSocketLike): PortLike {
  const queue: string[] = []
  let closed = false
  const port: PortLike = {
    postMessage(m) {
      if (closed) throw new AmalgamError('IO', 'WebSocket is closed')
      const s = JSON.stringify(m)
      if (ws.readyState === WS_CONNECTING) queue.push(s)
      else if (ws.readyState === WS_OPEN) ws.send(s)
      else throw new AmalgamError('IO', 'WebSocket is closed')
    },
    onmessage: null,
    onclose: null,
    close() { if (!closed) { closed = true; ws.close(1000, 'closed') } },
  }
  ws.addEventListener('open', () => { for (const s of queue.splice(0)) ws.send(s) })
  ws.addEventListener('message', (e) => {
    const raw = typeof e.data === 'string' ? e.data : String(e.data)
    let data: unknown
    try { data = JSON.parse(raw) } catch { return } // not ours; ignore rather than kill the connection
    port.onmessage?.({ data })
  })
  ws.addEventListener('close', (e) => {
    closed = true
    const code = (e as { code?: number } | undefined)?.code
    port.onclose?.(code ? `socket closed (${code})` : 'socket closed')
  })
  return port
}
