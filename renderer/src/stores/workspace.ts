import { defineStore } from 'pinia'
import type { WorkspaceInfo } from '#common/types'
import { engine, errorText } from './client'

export const useWorkspaceStore = defineStore('workspace', {
  state: () => ({
    current: null as WorkspaceInfo | null,
    recent: [] as string[],
    error: null as string | null,
    busy: false,
  }),
  getters: {
    /** a workspace with nothing in it: offer the mini-8 benchmark */
    isFresh: (s) => !!s.current && s.current.pools === 0 && s.current.experiments === 0,
  },
  actions: {
    async load() {
      try {
        const [current, recent] = await Promise.all([engine().call('workspace.current'), engine().call('workspace.recent')])
        this.current = current
        this.recent = recent
        this.error = null
      } catch (e) { this.error = errorText(e) }
    },
    async open(dir: string, create = false) {
      this.busy = true
      this.error = null
      try {
        this.current = await engine().call('workspace.open', { dir, create })
        this.recent = await engine().call('workspace.recent')
        return true
      } catch (e) {
        this.error = errorText(e)
        return false
      } finally { this.busy = false }
    },
    async clearCache() {
      try {
        const r = await engine().call('workspace.clearCache')
        await this.load()
        return r.freedBytes
      } catch (e) { this.error = errorText(e); return 0 }
    },
  },
})
