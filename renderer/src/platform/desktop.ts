// DesktopApi: the Electron preload's implementation when present, else a browser fallback with the
// same type. In the browser there are no native dialogs: views show path entry fields instead.
import type { DesktopApi } from '#common/contract'

const baseTitle = 'Amalgam'

export const browserDesktop: DesktopApi = {
  kind: 'browser',
  async pickDirectory() { return null },
  async pickCheckpoints() { return [] },
  async reveal(path) {
    // no file manager from a browser tab: put the path on the clipboard so it is one paste away
    try { await navigator.clipboard.writeText(path) } catch { /* clipboard may be denied */ }
  },
  async setProgress(fraction) {
    document.title = fraction === null ? baseTitle : `(${Math.round(fraction * 100)}%) ${baseTitle}`
  },
}

export function getDesktop(): DesktopApi {
  const w = window as { amalgamDesktop?: DesktopApi }
  return w.amalgamDesktop?.kind === 'electron' ? w.amalgamDesktop : browserDesktop
}
