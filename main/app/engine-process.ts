// Runs the engine in an Electron utility process and brokers one MessagePort per window to it, so the
// renderer talks to the engine directly (no relay through main). If the engine dies (OOM, native
// crash), it is restarted and every window gets a fresh port plus the reason, which the UI shows.
import { MessageChannelMain, utilityProcess, type BrowserWindow, type UtilityProcess } from 'electron'
import enginePath from '../hosts/utility?modulePath'
import type { HostOutbound } from '../hosts/utility'

/** IPC channel names shared with the preload. */
export const PORT_REQUEST = 'amalgam:engine-port-request'
export const PORT_DELIVERY = 'amalgam:engine-port'

const MAX_RESTARTS = 5
const RESTART_WINDOW_MS = 60_000

export class EngineProcess {
  private child: UtilityProcess | null = null
  private stopping = false
  private restarts: number[] = []
  private readonly windows = new Set<BrowserWindow>()
  lastError: string | null = null

  constructor(private readonly env: Record<string, string | undefined> = {}) {}

  start(): void {
    const child = utilityProcess.fork(enginePath, [], {
      serviceName: 'Amalgam engine',
      stdio: 'pipe',
      env: { ...process.env, ...this.env },
    })
    this.child = child
    child.stdout?.on('data', (d: Buffer) => process.stdout.write(`[engine] ${d}`))
    child.stderr?.on('data', (d: Buffer) => {
      process.stderr.write(`[engine] ${d}`)
      this.lastError = String(d).trim().split('\n').slice(-1)[0] || this.lastError
    })
    child.on('message', (m: HostOutbound) => {
      if (m?.type === 'fatal') this.lastError = m.message
      else if (m?.type === 'log') process.stderr.write(`[engine] ${m.line}\n`)
    })
    child.on('exit', (code) => {
      if (this.child === child) this.child = null
      if (this.stopping) return
      const now = Date.now()
      this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS)
      const reason = `the engine process exited with code ${code}${this.lastError ? `: ${this.lastError}` : ''}`
      if (this.restarts.length >= MAX_RESTARTS) {
        for (const w of this.windows) this.send(w, { restarted: `${reason}; not restarting after ${MAX_RESTARTS} crashes in a minute` }, null)
        return
      }
      this.restarts.push(now)
      this.start()
      for (const w of this.windows) this.connect(w, `${reason}; restarted`)
    })
  }

  /** Give a window its own channel to the engine. `restarted` carries the reason after a crash. */
  connect(win: BrowserWindow, restarted?: string): void {
    if (!this.windows.has(win)) {
      this.windows.add(win)
      win.once('closed', () => this.windows.delete(win))
    }
    if (!this.child) this.start()
    const { port1, port2 } = new MessageChannelMain()
    this.child!.postMessage({ type: 'connect', windowId: win.id }, [port1])
    this.send(win, { restarted: restarted ?? null }, port2)
  }

  private send(win: BrowserWindow, info: { restarted: string | null }, port: Electron.MessagePortMain | null): void {
    if (win.isDestroyed()) return
    win.webContents.postMessage(PORT_DELIVERY, info, port ? [port] : [])
  }

  /** Hard stop (used for app quit; a cooperative cancel goes through jobs.cancel instead). */
  stop(): void {
    this.stopping = true
    this.child?.postMessage({ type: 'shutdown' })
    const c = this.child
    setTimeout(() => c?.kill(), 2000).unref()
  }

  kill(): boolean { return this.child?.kill() ?? false }
}
