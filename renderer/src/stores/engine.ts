import { defineStore } from 'pinia'
import type { BackendReport } from '#common/types'
import { engine, errorText } from './client'

export const useEngineStore = defineStore('engine', {
  state: () => ({
    status: null as BackendReport | null,
    error: null as string | null,
    connection: 'connecting' as 'connecting' | 'open' | 'closed',
    connectionReason: null as string | null,
    transport: null as 'electron' | 'websocket' | null,
    restartNotice: null as string | null,
    loading: false,
  }),
  actions: {
    async refresh() {
      this.loading = true
      try {
        this.status = await engine().call('engine.status')
        this.error = null
      } catch (e) {
        this.error = errorText(e)
      } finally {
        this.loading = false
      }
    },
    setConnection(state: 'connecting' | 'open' | 'closed', reason?: string) {
      this.connection = state
      this.connectionReason = reason ?? null
    },
    engineRestarted(reason: string) {
      this.restartNotice = reason
      void this.refresh()
    },
    dismissRestart() { this.restartNotice = null },
  },
})
