/// <reference lib="dom" />
// Preload (sandboxed, bundled to one CJS file): exposes the DesktopApi and hands the engine
// MessagePort to the page. Ports cannot cross contextBridge, so they are re-posted to the main world
// with window.postMessage (Electron's message-ports guide, "context-isolated page").
import { contextBridge, ipcRenderer } from 'electron'
import type { DesktopApi } from '../common/contract'

const PORT_REQUEST = 'amalgam:engine-port-request'
const PORT_DELIVERY = 'amalgam:engine-port'
const C = {
  pickDirectory: 'desktop:pick-directory',
  pickCheckpoints: 'desktop:pick-checkpoints',
  reveal: 'desktop:reveal',
  setProgress: 'desktop:set-progress',
} as const

const desktop: DesktopApi = {
  kind: 'electron',
  pickDirectory: (title) => ipcRenderer.invoke(C.pickDirectory, title),
  pickCheckpoints: () => ipcRenderer.invoke(C.pickCheckpoints),
  reveal: (path) => ipcRenderer.invoke(C.reveal, path),
  setProgress: (fraction) => ipcRenderer.invoke(C.setProgress, fraction),
}
contextBridge.exposeInMainWorld('amalgamDesktop', desktop)

// The page asks (once it is listening) and main answers with a port; after an engine restart main
// sends a new port on its own, with the reason.
window.addEventListener('message', (e) => {
  if (e.source === window && e.data?.type === PORT_REQUEST) ipcRenderer.send(PORT_REQUEST)
})
ipcRenderer.on(PORT_DELIVERY, (e, info: { restarted: string | null }) => {
  window.postMessage({ type: PORT_DELIVERY, restarted: info?.restarted ?? null }, '*', e.ports)
})
