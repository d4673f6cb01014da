// Runtime validation of every method's params at the engine boundary (the renderer is untrusted).
// Hand-written combinators: each returns the typed value or throws AmalgamError('BAD_REQUEST')
// naming the method and the exact field ("pools.add: models[2] must be a non-empty string").
import type { In, Method } from './contract'
import { AmalgamError } from './errors'
import type { Validators } from './rpc'

type Check<T> = (v: unknown, path: string) => T
const OPTIONAL = Symbol('optional')
type Opt<T> = Check<T | undefined> & { [OPTIONAL]: true }

class FieldError extends Error {}
const fail = (path: string, what: string): never => { throw new FieldError(`${path || 'params'} ${what}`) }
const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v)

const MAX_STRING = 64 * 1024
const MAX_ARRAY = 100_000

export const str = (opts: { min?: number; max?: number; pattern?: RegExp } = {}): Check<string> => (v, p) => {
  if (typeof v !== 'string') return fail(p, `must be a string, got ${describe(v)}`)
  if (v.length < (opts.min ?? 0)) return fail(p, opts.min === 1 ? 'must be a non-empty string' : `must have at least ${opts.min} characters`)
  if (v.length > (opts.max ?? MAX_STRING)) return fail(p, `must have at most ${opts.max ?? MAX_STRING} characters`)
  if (opts.pattern && !opts.pattern.test(v)) return fail(p, `must match ${opts.pattern}`)
  return v
}
export const nonEmpty = str({ min: 1 })

export const num = (opts: { min?: number; max?: number; integer?: boolean } = {}): Check<number> => (v, p) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fail(p, `must be a finite number, got ${describe(v)}`)
  if (opts.integer && !Number.isInteger(v)) return fail(p, 'must be an integer')
  if (opts.min !== undefined && v < opts.min) return fail(p, `must be ≥ ${opts.min}`)
  if (opts.max !== undefined && v > opts.max) return fail(p, `must be ≤ ${opts.max}`)
  return v
}
export const bool: Check<boolean> = (v, p) => (typeof v === 'boolean' ? v : fail(p, `must be true or false, got ${describe(v)}`))

export const oneOf = <T extends string>(...choices: T[]): Check<T> => (v, p) =>
  typeof v === 'string' && (choices as string[]).includes(v) ? (v as T) : fail(p, `must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`)

export const arr = <T>(item: Check<T>, opts: { min?: number; max?: number } = {}): Check<T[]> => (v, p) => {
  if (!Array.isArray(v)) return fail(p, `must be an array, got ${describe(v)}`)
  if (v.length < (opts.min ?? 0)) return fail(p, `must have at least ${opts.min} item${opts.min === 1 ? '' : 's'}`)
  if (v.length > (opts.max ?? MAX_ARRAY)) return fail(p, `must have at most ${opts.max ?? MAX_ARRAY} items`)
  return v.map((x, i) => item(x, `${p}[${i}]`))
}

/** Any JSON value (method params are checked against the method's own ParamSpec by the engine). */
export const json: Check<unknown> = (v, p) => {
  const walk = (x: unknown, at: string, depth: number): void => {
    if (depth > 32) fail(at, 'is nested too deeply')
    if (x === null || typeof x === 'string' || typeof x === 'boolean') return
    if (typeof x === 'number') { if (!Number.isFinite(x)) fail(at, 'must be a finite number'); return }
    if (Array.isArray(x)) { x.forEach((y, i) => walk(y, `${at}[${i}]`, depth + 1)); return }
    if (typeof x === 'object') { for (const [k, y] of Object.entries(x)) walk(y, `${at}.${k}`, depth + 1); return }
    fail(at, `must be JSON data, got ${describe(x)}`)
  }
  walk(v, p, 0)
  return v
}

export const record = <T>(value: Check<T>): Check<Record<string, T>> => (v, p) => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(p, `must be an object, got ${describe(v)}`)
  const out: Record<string, T> = {}
  for (const [k, x] of Object.entries(v)) out[k] = value(x, p ? `${p}.${k}` : k)
  return out
}

export const optional = <T>(c: Check<T>): Opt<T> => {
  const f = ((v: unknown, p: string) => (v === undefined ? undefined : c(v, p))) as Opt<T>
  f[OPTIONAL] = true
  return f
}

type Shape = Record<string, Check<unknown>>
type FromShape<S extends Shape> =
  { [K in keyof S as S[K] extends Opt<unknown> ? never : K]: S[K] extends Check<infer T> ? T : never } &
  { [K in keyof S as S[K] extends Opt<unknown> ? K : never]?: S[K] extends Check<infer T> ? Exclude<T, undefined> : never }

/** An object with exactly these fields; unknown fields are rejected so typos do not pass silently. */
export const obj = <S extends Shape>(shape: S): Check<FromShape<S>> => (v, p) => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(p, `must be an object, got ${describe(v)}`)
  for (const k of Object.keys(v)) if (!(k in shape)) fail(p ? `${p}.${k}` : k, 'is not a known field')
  const out: Record<string, unknown> = {}
  for (const [k, c] of Object.entries(shape)) {
    const raw = (v as Record<string, unknown>)[k]
    if (raw === undefined && !(c as Partial<Opt<unknown>>)[OPTIONAL]) fail(p ? `${p}.${k}` : k, 'is required')
    const x = c(raw, p ? `${p}.${k}` : k)
    if (x !== undefined) out[k] = x
  }
  return out as FromShape<S>
}

/** Methods without params accept nothing, null or {} (JSON framing turns undefined into a missing field). */
const none: Check<void> = (v, p) => {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return undefined
  return fail(p, 'must be empty (this method takes no parameters)')
}

const path = str({ min: 1, max: 4096 })
const id = str({ min: 1, max: 200 })
const tag = str({ min: 1, max: 100 })
const status = oneOf('queued', 'running', 'done', 'failed', 'cancelled')

const runRequest = {
  poolId: id,
  method: str({ min: 1, max: 100 }),
  params: optional(record(json)),
  seed: optional(num({ integer: true, min: 0, max: 2 ** 32 - 1 })),
  name: optional(str({ max: 200 })),
  tags: optional(arr(tag, { max: 50 })),
  keepModel: optional(bool),
  evaluate: optional(bool),
}

const checks: { [M in Method]: Check<unknown> } = {
  'engine.status': none,
  'methods.list': none,
  'checkpoints.inspect': obj({ path, tensors: optional(bool) }),
  'checkpoints.check': obj({ base: path, models: arr(path, { min: 1, max: 64 }), scanNonFinite: optional(bool) }),
  'checkpoints.hash': obj({ path }),

  'workspace.current': none,
  'workspace.open': obj({ dir: path, create: optional(bool) }),
  'workspace.recent': none,
  'workspace.clearCache': none,

  'pools.list': none,
  'pools.add': obj({ name: str({ min: 1, max: 200 }), base: path, models: arr(path, { min: 1, max: 64 }) }),
  'pools.addBenchmark': obj({ benchmark: oneOf('mini8') }),
  'pools.similarity': obj({ poolId: id }),

  'runs.start': obj(runRequest),
  'runs.sweep': obj({ ...runRequest, grid: record(arr(json, { min: 1, max: 64 })) }),
  'jobs.list': none,
  'jobs.cancel': obj({ jobId: id }),

  'experiments.list': obj({
    search: optional(str({ max: 500 })),
    method: optional(str({ max: 100 })),
    status: optional(status),
    tag: optional(tag),
    starred: optional(bool),
    sort: optional(str({ max: 100 })),
    desc: optional(bool),
    limit: optional(num({ integer: true, min: 1, max: 100_000 })),
    offset: optional(num({ integer: true, min: 0 })),
  }),
  'experiments.get': obj({ id }),
  'experiments.update': obj({
    id,
    tags: optional(arr(tag, { max: 50 })),
    note: optional(str({ max: 20_000 })),
    starred: optional(bool),
    name: optional(str({ min: 1, max: 200 })),
  }),
  'experiments.compare': obj({ ids: arr(id, { min: 1, max: 200 }), reference: optional(bool) }),
  'experiments.export': obj({
    id,
    out: path,
    dtype: optional(oneOf('f32', 'bf16', 'f16')),
    shardBytes: optional(num({ integer: true, min: 1024 * 1024 })),
    task: optional(str({ min: 1, max: 200 })),
  }),
  'experiments.cardPreview': obj({ id, task: optional(str({ min: 1, max: 200 })) }),

  'bench.reference': obj({ benchmark: oneOf('mini8') }),
  'eval.model': obj({ experimentId: id }),
}

function wrap<M extends Method>(method: M, c: Check<unknown>): (p: unknown) => In<M> {
  return (p) => {
    try {
      return c(p, '') as In<M>
    } catch (e) {
      if (e instanceof FieldError) throw new AmalgamError('BAD_REQUEST', `${method}: ${e.message}`)
      throw e
    }
  }
}

export const validators: Validators = Object.fromEntries(
  Object.entries(checks).map(([m, c]) => [m, wrap(m as Method, c)]),
) as Validators
