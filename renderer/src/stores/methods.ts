import { defineStore } from 'pinia'
import type { MethodInfo, ParamSpec } from '#common/types'
import { engine, errorText } from './client'

export function defaultsOf(m: MethodInfo): Record<string, unknown> {
  return Object.fromEntries(m.params.map((p) => [p.name, structuredClone(p.default)]))
}

/** Client-side check of one value against its ParamSpec (the engine checks again). */
export function paramError(spec: ParamSpec, v: unknown): string | null {
  switch (spec.type) {
    case 'number':
    case 'integer': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a number'
      if (spec.type === 'integer' && !Number.isInteger(v)) return 'must be an integer'
      if (spec.min !== undefined && v < spec.min) return `must be ≥ ${spec.min}`
      if (spec.max !== undefined && v > spec.max) return `must be ≤ ${spec.max}`
      return null
    }
    case 'boolean': return typeof v === 'boolean' ? null : 'must be true or false'
    case 'enum': return typeof v === 'string' && (spec.choices ?? []).includes(v) ? null : `must be one of ${(spec.choices ?? []).join(', ')}`
    case 'string': return typeof v === 'string' ? null : 'must be text'
    case 'number[]': {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) return 'must be a list of numbers'
      if (spec.min !== undefined && v.some((x) => x < spec.min!)) return `every value must be ≥ ${spec.min}`
      if (spec.max !== undefined && v.some((x) => x > spec.max!)) return `every value must be ≤ ${spec.max}`
      return null
    }
  }
}

export const useMethodsStore = defineStore('methods', {
  state: () => ({ methods: [] as MethodInfo[], error: null as string | null, loaded: false }),
  getters: {
    byName: (s) => (name: string) => s.methods.find((m) => m.name === name) ?? null,
  },
  actions: {
    async load() {
      if (this.loaded) return
      try {
        this.methods = await engine().call('methods.list')
        this.loaded = true
        this.error = null
      } catch (e) { this.error = errorText(e) }
    },
  },
})
