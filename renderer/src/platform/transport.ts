// How the renderer reaches the engine: the MessagePort the Electron preload hands over, or a
// WebSocket to `amalgam serve` (token from the page URL). Either way the stores see one EngineClient
// that survives an engine restart (a new port replaces the old one; listeners are kept).
import { createClient, webSocketPort, type EngineClient, type PortLike } from '#common/rpc'
import { AmalgamError } from '#common/errors'
import type { EngineEvents, EventName } from '#common/contract'

export type TransportKind = 'electron' | 'websocket'

export interface Connection extends EngineClient {
  readonly kind: TransportKind
  /** 'open' once a carrier is attached; 'closed' after the carrier went away for good */
  state(): 'connecting' | 'open' | 'closed'
  onState(fn: (s: 'connecting' | 'open' | 'closed', reason?: string) => void): () => void
}

const PORT_REQUEST = 'amalgam:engine-port-request'
const PORT_DELIVERY = 'amalgam:engine-port'

/** A client whose carrier can be swapped (engine restart) without losing event subscriptions. */
export function swappableClient(kind: TransportKind): Connection & { attach(port: PortLike): void; fail(reason: string): void } {
  let inner: EngineClient | null = null
  let st: 'connecting' | 'open' | 'closed' = 'connecting'
  const waiters: Array<() => void> = []
  const subs = new Map<string, Set<(v: unknown) => void>>()
  const unsubs: Array<() => void> = []
  const stateFns = new Set<(s: 'connecting' | 'open' | 'closed', reason?: string) => void>()
  const setState = (s: typeof st, reason?: string) => { st = s; for (const f of stateFns) f(s, reason) }

  const bindAll = () => {
    for (const u of unsubs.splice(0)) u()
    if (!inner) return
    for (const [name, set] of subs) {
      unsubs.push(inner.on(name as EventName, (v) => { for (const f of [...set]) f(v) }))
    }
  }
  return {
    kind,
    state: () => st,
    onState(fn) { stateFns.add(fn); return () => stateFns.delete(fn) },
    attach(port) {
      inner?.close()
      inner = createClient(port)
      const prevClose = port.onclose
      port.onclose = (reason) => { prevClose?.(reason); setState('closed', reason) }
      bindAll()
      setState('open')
      for (const w of waiters.splice(0)) w()
    },
    fail(reason) { setState('closed', reason); for (const w of waiters.splice(0)) w() },
    async call(method, ...params) {
      if (!inner && st === 'connecting') await new Promise<void>((r) => waiters.push(r))
      if (!inner) throw new AmalgamError('IO', `${method}: not connected to the engine`)
      return inner.call(method, ...params)
    },
    on<E extends EventName>(event: E, fn: (v: EngineEvents[E]) => void) {
      let set = subs.get(event)
      if (!set) { subs.set(event, (set = new Set())); if (inner) unsubs.push(inner.on(event, (v) => { for (const f of [...set!]) f(v) })) }
      set.add(fn as (v: unknown) => void)
      return () => { set!.delete(fn as (v: unknown) => void) }
    },
    close() { inner?.close(); inner = null; setState('closed', 'closed') },
  }
}

function messagePortAdapter(p: MessagePort): PortLike {
  const port: PortLike = { postMessage: (m) => p.postMessage(m), onmessage: null, onclose: null, close: () => p.close() }
  p.onmessage = (e) => port.onmessage?.({ data: e.data })
  return port
}

/** `onRestarted` hears main's notice that the engine process was restarted (the new engine cannot know). */
export function connectElectron(onRestarted: (reason: string) => void): Connection {
  const c = swappableClient('electron')
  window.addEventListener('message', (e: MessageEvent) => {
    if (e.source !== window || e.data?.type !== PORT_DELIVERY) return
    const port = e.ports[0]
    const restarted: string | null = e.data.restarted ?? null
    if (port) c.attach(messagePortAdapter(port))
    else c.fail(restarted ?? 'the engine is not running')
    if (restarted) onRestarted(restarted)
  })
  window.postMessage({ type: PORT_REQUEST }, '*')
  return c
}

/** Token from ?token=… (kept in sessionStorage so a reload after the URL is cleaned still works). */
export function pageToken(): string | null {
  const fromUrl = new URLSearchParams(location.search).get('token')
  if (fromUrl) { try { sessionStorage.setItem('amalgam.token', fromUrl) } catch { /* storage may be disabled */ } return fromUrl }
  try { return sessionStorage.getItem('amalgam.token') } catch { return null }
}

export function connectWebSocket(): Connection {
  const c = swappableClient('websocket')
  const token = pageToken()
  if (!token) { c.fail('no token in the page URL: open the exact address `amalgam serve` printed'); return c }
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/rpc?token=${encodeURIComponent(token)}`
  const ws = new WebSocket(url)
  let opened = false
  ws.addEventListener('open', () => { opened = true; c.attach(port) })
  ws.addEventListener('close', (e) => { if (!opened) c.fail(e.code === 1006 ? 'the engine refused the connection (wrong token?) or is not running' : `closed (${e.code})`) })
  const port = webSocketPort(ws)
  return c
}

export function hasElectronPreload(): boolean {
  return typeof window !== 'undefined' && (window as { amalgamDesktop?: { kind?: string } }).amalgamDesktop?.kind === 'electron'
}
