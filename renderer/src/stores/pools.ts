import { defineStore } from 'pinia'
import type { CheckpointInfo, PoolCheck, PoolRecord } from '#common/types'
import type { Out } from '#common/contract'
import { engine, errorText } from './client'

export type Similarity = Out<'pools.similarity'>

export const usePoolsStore = defineStore('pools', {
  state: () => ({
    pools: [] as PoolRecord[],
    selectedId: null as string | null,
    cards: {} as Record<string, CheckpointInfo | { error: string }>,
    /** path → sha256 of its weight files (joined when sharded), computed on request */
    hashes: {} as Record<string, string | { error: string } | 'pending'>,
    check: null as PoolCheck | null,
    checking: false,
    similarity: {} as Record<string, Similarity>,
    error: null as string | null,
    busy: false,
  }),
  getters: {
    selected: (s) => s.pools.find((p) => p.id === s.selectedId) ?? s.pools[0] ?? null,
  },
  actions: {
    async load() {
      try {
        this.pools = await engine().call('pools.list')
        if (!this.pools.some((p) => p.id === this.selectedId)) this.selectedId = this.pools[0]?.id ?? null
        this.error = null
      } catch (e) { this.error = errorText(e) }
    },
    async addBenchmark() {
      this.busy = true
      this.error = null
      try {
        const p = await engine().call('pools.addBenchmark', { benchmark: 'mini8' })
        await this.load()
        this.selectedId = p.id
        return p
      } catch (e) { this.error = errorText(e); return null } finally { this.busy = false }
    },
    /** The pre-run check: nothing is added unless it passes. */
    async checkPaths(base: string, models: string[]) {
      this.checking = true
      this.error = null
      this.check = null
      try {
        this.check = await engine().call('checkpoints.check', { base, models })
        return this.check
      } catch (e) { this.error = errorText(e); return null } finally { this.checking = false }
    },
    async add(name: string, base: string, models: string[]) {
      const check = await this.checkPaths(base, models)
      if (!check?.ok) return null
      this.busy = true
      try {
        const p = await engine().call('pools.add', { name, base, models })
        await this.load()
        this.selectedId = p.id
        return p
      } catch (e) { this.error = errorText(e); return null } finally { this.busy = false }
    },
    async inspect(path: string) {
      try { this.cards[path] = await engine().call('checkpoints.inspect', { path }) } catch (e) { this.cards[path] = { error: errorText(e) } }
      return this.cards[path]
    },
    async hash(path: string) {
      this.hashes[path] = 'pending'
      try {
        const r = await engine().call('checkpoints.hash', { path })
        this.hashes[path] = r.files.map((f) => f.sha256).join(' + ')
      } catch (e) { this.hashes[path] = { error: errorText(e) } }
      return this.hashes[path]
    },
    async loadSimilarity(poolId: string) {
      if (this.similarity[poolId]) return this.similarity[poolId]
      try {
        const s = await engine().call('pools.similarity', { poolId })
        this.similarity[poolId] = s
        return s
      } catch (e) { this.error = errorText(e); return null }
    },
  },
})
