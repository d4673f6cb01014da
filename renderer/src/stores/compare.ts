import { defineStore } from 'pinia'
import type { BenchReport, CompareTable } from '#common/types'
import { engine, errorText } from './client'

/** Stable string form of a parameter value, for "differences only". */
export function showValue(v: unknown): string {
  if (v === undefined) return '—'
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6))
  return typeof v === 'string' ? v : JSON.stringify(v)
}

export const useCompareStore = defineStore('compare', {
  state: () => ({
    ids: [] as string[],
    table: null as CompareTable | null,
    reference: false,
    diffOnly: true,
    benchmark: null as BenchReport | null,
    error: null as string | null,
    loading: false,
  }),
  getters: {
    /** Recipe rows: method + every parameter, with a flag for rows whose values differ. */
    recipeRows(s): Array<{ key: string; values: string[]; differs: boolean }> {
      if (!s.table) return []
      const rows = s.table.rows
      const keys = new Set<string>(['method'])
      for (const r of rows) for (const k of Object.keys(r.params)) keys.add(k)
      for (const d of s.table.paramDiff) keys.add(d.key)
      const out = [...keys].map((key) => {
        const values = rows.map((r) => showValue(key === 'method' ? r.method : r.params[key]))
        return { key, values, differs: new Set(values).size > 1 }
      })
      return s.diffOnly ? out.filter((r) => r.differs) : out
    },
  },
  actions: {
    async load(ids: string[]) {
      this.ids = ids
      if (!ids.length) { this.table = null; return }
      this.loading = true
      try {
        this.table = await engine().call('experiments.compare', { ids, reference: this.reference })
        this.error = null
      } catch (e) { this.error = errorText(e); this.table = null } finally { this.loading = false }
    },
    async setReference(on: boolean) {
      this.reference = on
      await this.load(this.ids)
    },
  },
})
