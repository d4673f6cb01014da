// The experiment table. Rows are fetched by page as the table scrolls (sparse cache), so 10 000
// experiments cost a few pages of JSON, not one huge transfer; sort/filter/search run in the engine.
import { defineStore } from 'pinia'
import type { ExperimentRecord, ExperimentStatus, HistoryQuery } from '#common/types'
import { engine, errorText } from './client'

export const PAGE = 200

export const useHistoryStore = defineStore('history', {
  state: () => ({
    total: 0,
    rows: [] as Array<ExperimentRecord | undefined>,
    search: '',
    method: '' as string,
    status: '' as '' | ExperimentStatus,
    tag: '',
    starredOnly: false,
    sort: 'createdAt',
    desc: true,
    cursor: 0,
    selected: [] as string[],
    error: null as string | null,
    loading: false,
    generation: 0,
    pagesLoading: {} as Record<number, boolean>,
    tasks: [] as string[],
  }),
  getters: {
    query(s): HistoryQuery {
      const q: HistoryQuery = { sort: s.sort, desc: s.desc }
      if (s.search.trim()) q.search = s.search.trim()
      if (s.method) q.method = s.method
      if (s.status) q.status = s.status
      if (s.tag.trim()) q.tag = s.tag.trim()
      if (s.starredOnly) q.starred = true
      return q
    },
    current: (s) => s.rows[s.cursor],
  },
  actions: {
    /** Reload from the first page (after a filter/sort change or a finished run). */
    async reload() {
      const gen = ++this.generation
      this.loading = true
      this.pagesLoading = {}
      try {
        const r = await engine().call('experiments.list', { ...this.query, limit: PAGE, offset: 0 })
        if (gen !== this.generation) return
        this.total = r.total
        this.rows = new Array(r.total)
        r.rows.forEach((row, i) => { this.rows[i] = row })
        this.cursor = Math.min(this.cursor, Math.max(0, r.total - 1))
        this.updateTasks(r.rows)
        this.error = null
      } catch (e) {
        if (gen === this.generation) this.error = errorText(e)
      } finally {
        if (gen === this.generation) this.loading = false
      }
    },
    /** Make sure rows [start, end) are loaded. */
    async ensure(start: number, end: number) {
      const gen = this.generation
      const first = Math.floor(Math.max(0, start) / PAGE)
      const last = Math.floor(Math.max(0, Math.min(end, this.total) - 1) / PAGE)
      const wanted: number[] = []
      for (let p = first; p <= last; p++) {
        if (this.pagesLoading[p]) continue
        const from = p * PAGE, to = Math.min(this.total, from + PAGE)
        for (let i = from; i < to; i++) if (!this.rows[i]) { wanted.push(p); break }
      }
      await Promise.all(wanted.map(async (p) => {
        this.pagesLoading[p] = true
        try {
          const r = await engine().call('experiments.list', { ...this.query, limit: PAGE, offset: p * PAGE })
          if (gen !== this.generation) return
          r.rows.forEach((row, i) => { this.rows[p * PAGE + i] = row })
          this.updateTasks(r.rows)
        } catch (e) { this.error = errorText(e) } finally { delete this.pagesLoading[p] }
      }))
    },
    updateTasks(rows: ExperimentRecord[]) {
      const set = new Set(this.tasks)
      let grew = false
      for (const r of rows) for (const k of Object.keys(r.metrics ?? {})) if (!set.has(k)) { set.add(k); grew = true }
      if (grew) this.tasks = [...set]
    },
    setSort(key: string) {
      if (this.sort === key) this.desc = !this.desc
      else { this.sort = key; this.desc = key !== 'name' && key !== 'method' }
      void this.reload()
    },
    moveCursor(delta: number) {
      if (!this.total) return
      this.cursor = Math.max(0, Math.min(this.total - 1, this.cursor + delta))
    },
    toggleSelected(id: string) {
      const i = this.selected.indexOf(id)
      if (i >= 0) this.selected.splice(i, 1)
      else this.selected.push(id)
    },
    async update(id: string, patch: { starred?: boolean; tags?: string[]; name?: string; note?: string }) {
      try {
        const rec = await engine().call('experiments.update', { id, ...patch })
        const i = this.rows.findIndex((r) => r?.id === id)
        if (i >= 0) this.rows[i] = rec
        return rec
      } catch (e) { this.error = errorText(e); return null }
    },
    async toggleStar(id: string) {
      const r = this.rows.find((x) => x?.id === id)
      if (r) await this.update(id, { starred: !r.starred })
    },
  },
})
