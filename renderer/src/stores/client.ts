// The stores reach the engine and the desktop through these two slots; main.ts fills them with the
// real transport, tests with an in-memory engine.
import type { EngineClient } from '#common/rpc'
import type { DesktopApi } from '#common/contract'
import { browserDesktop } from '../platform/desktop'

let client: EngineClient | null = null
let desktop: DesktopApi = browserDesktop

/**
 * Params often come straight from reactive state; Vue proxies cannot be structured-cloned through a
 * MessagePort (DataCloneError), so every call sends a plain JSON copy (params are small by design).
 */
export function setEngineClient(c: EngineClient): void {
  client = {
    call: ((method: string, params?: unknown) =>
      (c.call as (m: string, p?: unknown) => Promise<unknown>)(method, params === undefined ? undefined : JSON.parse(JSON.stringify(params)))) as EngineClient['call'],
    on: (e, fn) => c.on(e, fn),
    close: () => c.close(),
  }
}
export function engine(): EngineClient {
  if (!client) throw new Error('engine client not set (call setEngineClient first)')
  return client
}
export function setDesktop(d: DesktopApi): void { desktop = d }
export function desk(): DesktopApi { return desktop }

/** Error text for the UI: engine errors carry a code and name the field/file at fault. */
export function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e) {
    const code = (e as { code?: string }).code
    return code && code !== 'INTERNAL' ? `${(e as Error).message} (${code})` : String((e as Error).message)
  }
  return String(e)
}
