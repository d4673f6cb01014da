// Electron main process: thin on purpose (windows, dialogs, engine process). All heavy work runs in
// the engine utility process so the UI never freezes during a merge.
import { app, BrowserWindow, session } from 'electron'
import { join, resolve } from 'node:path'
import { createMainWindow } from './windows'
import { EngineProcess } from './engine-process'
import { registerDesktopIpc } from './desktop-ipc'

// Tests and portable setups relocate all app state (ux.md: env-var override of the data root).
if (process.env.APP_DATA_DIR) app.setPath('userData', resolve(process.env.APP_DATA_DIR))

app.enableSandbox()

if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  const engine = new EngineProcess({
    AMALGAM_USER_DATA: app.getPath('userData'),
    // the bundled engine cannot find resources/ relative to its own file; point it there
    AMALGAM_MINI8: process.env.AMALGAM_MINI8 ?? join(app.getAppPath(), 'resources', 'mini8'),
  })
  let main: BrowserWindow | null = null

  app.on('second-instance', () => {
    if (!main) return
    if (main.isMinimized()) main.restore()
    main.focus()
  })

  app.on('web-contents-created', (_e, wc) => {
    wc.setWindowOpenHandler(() => ({ action: 'deny' }))
  })

  void app.whenReady().then(() => {
    // The UI never needs camera, microphone, notifications, etc.
    session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false))
    registerDesktopIpc(engine)
    engine.start()
    main = createMainWindow()
    main.on('closed', () => { main = null })
    app.on('activate', () => { if (BrowserWindow.getAllWindows().length === 0) main = createMainWindow() })
  })

  app.on('window-all-closed', () => { if (process.platform !== 'darwin') app.quit() })
  app.on('before-quit', () => engine.stop())
}
