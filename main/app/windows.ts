// Windows with Electron's security defaults on: the renderer is treated as untrusted content that can
// only reach the engine port and the desktop API the preload exposes.
import { BrowserWindow, shell } from 'electron'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))

/** electron-vite sets ELECTRON_RENDERER_URL in dev; a packaged/built app loads the file. */
export function rendererEntry(): { url: string } {
  const dev = process.env.ELECTRON_RENDERER_URL
  if (dev) return { url: dev }
  return { url: pathToFileURL(join(here, '../renderer/index.html')).href }
}

/** Is this URL our own UI (and not something a compromised page navigated to)? */
export function isAppUrl(raw: string): boolean {
  let u: URL
  try { u = new URL(raw) } catch { return false }
  const entry = new URL(rendererEntry().url)
  if (entry.protocol === 'file:') return u.protocol === 'file:' && u.pathname === entry.pathname
  return u.origin === entry.origin
}

export function createMainWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'Amalgam',
    backgroundColor: '#10141a',
    autoHideMenuBar: true,
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  })
  // Citations link to papers: open those in the system browser; nothing opens inside the app.
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\//.test(url)) void shell.openExternal(url)
    return { action: 'deny' }
  })
  win.webContents.on('will-navigate', (e, url) => { if (!isAppUrl(url)) e.preventDefault() })
  win.webContents.on('will-attach-webview', (e) => e.preventDefault())
  win.once('ready-to-show', () => win.show())
  void win.loadURL(rendererEntry().url)
  return win
}
