// Parameter validation shared by the runner, the CLI (`--set key=value`), recipes and the UI forms.
// Strings are coerced to the declared type so that CLI values and YAML scalars behave the same.
import type { MethodInfo, ParamSpec } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { ResolvedParams } from './types'

function bad(method: string, param: string, why: string): AmalgamError {
  return new AmalgamError('BAD_PARAM', `${method}: parameter "${param}" ${why}`, { method, param })
}

function toNumber(method: string, spec: ParamSpec, v: unknown): number {
  let n: number
  if (typeof v === 'number') n = v
  else if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v.trim()))) n = Number(v.trim())
  else throw bad(method, spec.name, `must be a number, got ${JSON.stringify(v)}`)
  if (!Number.isFinite(n)) throw bad(method, spec.name, `must be finite, got ${v}`)
  return n
}

function checkRange(method: string, spec: ParamSpec, n: number): void {
  if (spec.min !== undefined && n < spec.min) throw bad(method, spec.name, `must be ≥ ${spec.min}, got ${n}`)
  if (spec.max !== undefined && n > spec.max) throw bad(method, spec.name, `must be ≤ ${spec.max}, got ${n}`)
}

/** Coerces one raw value (number, boolean, string from the CLI, array from YAML) to the spec's type. */
export function coerceParam(method: string, spec: ParamSpec, v: unknown): unknown {
  switch (spec.type) {
    case 'number': {
      const n = toNumber(method, spec, v)
      checkRange(method, spec, n)
      return n
    }
    case 'integer': {
      const n = toNumber(method, spec, v)
      if (!Number.isInteger(n)) throw bad(method, spec.name, `must be an integer, got ${n}`)
      checkRange(method, spec, n)
      return n
    }
    case 'boolean': {
      if (typeof v === 'boolean') return v
      if (typeof v === 'string') {
        const s = v.trim().toLowerCase()
        if (s === 'true' || s === '1' || s === 'yes') return true
        if (s === 'false' || s === '0' || s === 'no') return false
      }
      if (v === 1 || v === 0) return v === 1
      throw bad(method, spec.name, `must be true or false, got ${JSON.stringify(v)}`)
    }
    case 'enum': {
      const s = typeof v === 'string' ? v.trim() : String(v)
      if (!spec.choices?.includes(s)) throw bad(method, spec.name, `must be one of ${spec.choices?.join(', ')}, got ${JSON.stringify(v)}`)
      return s
    }
    case 'string': {
      if (typeof v === 'string') return v
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(',')
      throw bad(method, spec.name, `must be a string, got ${JSON.stringify(v)}`)
    }
    case 'number[]': {
      let arr: unknown[]
      if (Array.isArray(v)) arr = v
      else if (typeof v === 'number') arr = [v]
      else if (typeof v === 'string') {
        const s = v.trim()
        if (s === '' || s === '[]') arr = []
        else if (s.startsWith('[')) {
          try { arr = JSON.parse(s) } catch { throw bad(method, spec.name, `is not a JSON list of numbers: ${s}`) }
          if (!Array.isArray(arr)) throw bad(method, spec.name, `must be a list of numbers, got ${s}`)
        } else arr = s.split(',')
      } else throw bad(method, spec.name, `must be a list of numbers, got ${JSON.stringify(v)}`)
      return arr.map((x, i) => {
        const n = toNumber(method, { ...spec, name: `${spec.name}[${i}]` }, x)
        checkRange(method, { ...spec, name: `${spec.name}[${i}]` }, n)
        return n
      })
    }
  }
}

/**
 * Validates raw parameters against a method's schema: unknown names and out-of-range or
 * ill-typed values raise BAD_PARAM naming the method and the parameter; missing ones get defaults.
 */
export function validateParams(info: MethodInfo, raw: Record<string, unknown> = {}): ResolvedParams {
  const byName = new Map(info.params.map((p) => [p.name, p]))
  for (const key of Object.keys(raw)) {
    if (!byName.has(key)) {
      const known = info.params.map((p) => p.name).join(', ') || 'none'
      throw bad(info.name, key, `is not a parameter of ${info.name} (known: ${known})`)
    }
  }
  const out: ResolvedParams = {}
  for (const spec of info.params) {
    const v = raw[spec.name]
    out[spec.name] = v === undefined || v === null ? structuredClone(spec.default) : coerceParam(info.name, spec, v)
  }
  return out
}

/** Parses CLI `key=value` pairs into a raw parameter record (values stay strings; validateParams coerces). */
export function parseSetArgs(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const p of pairs) {
    const i = p.indexOf('=')
    if (i <= 0) throw new AmalgamError('BAD_PARAM', `--set expects key=value, got "${p}"`)
    out[p.slice(0, i).trim()] = p.slice(i + 1)
  }
  return out
}

/** Throws the standard BAD_PARAM error; used by methods' cross-parameter checks. */
export function paramError(method: string, param: string, why: string): AmalgamError { return bad(method, param, why) }

/** Splits a comma-separated key list parameter (`exclude_keys`, `remove_keys`, `ignore_keys`). */
export function keyList(v: unknown): string[] {
  return String(v ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0)
}
