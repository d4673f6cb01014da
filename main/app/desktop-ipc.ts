// The desktop half of DesktopApi (dialogs, reveal in folder, taskbar progress). Every handler checks
// that the call comes from the top frame of one of our windows showing our own UI, so an injected
// iframe or a navigated page cannot open dialogs or touch the taskbar.
import { BrowserWindow, dialog, ipcMain, shell, type IpcMainInvokeEvent } from 'electron'
import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { isAppUrl } from './windows'
import { PORT_REQUEST, type EngineProcess } from './engine-process'

export const DESKTOP_CHANNELS = {
  pickDirectory: 'desktop:pick-directory',
  pickCheckpoints: 'desktop:pick-checkpoints',
  reveal: 'desktop:reveal',
  setProgress: 'desktop:set-progress',
} as const

function trustedWindow(e: IpcMainInvokeEvent | Electron.IpcMainEvent): BrowserWindow {
  const frame = e.senderFrame
  const win = BrowserWindow.fromWebContents(e.sender)
  if (!frame || !win || frame !== e.sender.mainFrame || !isAppUrl(frame.url)) {
    throw new Error(`refused IPC from untrusted frame ${frame?.url ?? '(gone)'}`)
  }
  return win
}

export function registerDesktopIpc(engine: EngineProcess): void {
  ipcMain.handle(DESKTOP_CHANNELS.pickDirectory, async (e, title: unknown) => {
    const win = trustedWindow(e)
    const r = await dialog.showOpenDialog(win, {
      title: typeof title === 'string' ? title.slice(0, 200) : 'Choose a folder',
      properties: ['openDirectory', 'createDirectory'],
    })
    return r.canceled ? null : (r.filePaths[0] ?? null)
  })
  ipcMain.handle(DESKTOP_CHANNELS.pickCheckpoints, async (e) => {
    const win = trustedWindow(e)
    const r = await dialog.showOpenDialog(win, {
      title: 'Choose checkpoints (Hugging Face folders or .safetensors files)',
      properties: ['openDirectory', 'openFile', 'multiSelections'],
      filters: [{ name: 'safetensors', extensions: ['safetensors', 'json'] }],
    })
    return r.canceled ? [] : r.filePaths
  })
  ipcMain.handle(DESKTOP_CHANNELS.reveal, async (e, path: unknown) => {
    trustedWindow(e)
    if (typeof path !== 'string' || !isAbsolute(path) || !existsSync(path)) throw new Error(`reveal: not an existing absolute path: ${String(path)}`)
    shell.showItemInFolder(path)
  })
  ipcMain.handle(DESKTOP_CHANNELS.setProgress, async (e, fraction: unknown) => {
    const win = trustedWindow(e)
    if (fraction === null) win.setProgressBar(-1)
    else if (typeof fraction === 'number' && Number.isFinite(fraction)) win.setProgressBar(Math.min(1, Math.max(0, fraction)))
    else throw new Error('setProgress: fraction must be a number in [0,1] or null')
  })
  ipcMain.on(PORT_REQUEST, (e) => {
    try { engine.connect(trustedWindow(e)) } catch (err) { console.error(String(err)) }
  })
}
