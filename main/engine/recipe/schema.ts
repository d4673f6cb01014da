// The recipe: everything needed to re-run an experiment and get the same numbers — inputs by
// path and content hash, method, resolved parameters, seed, engine version, benchmark, output dtype.
// Validation is at runtime because recipes come from files people edit by hand.
import type { FloatOutDType } from '#common/types'
import { AmalgamError } from '#common/errors'

export const RECIPE_FORMAT = 1

export interface RecipeFile { file: string; sha256: string; bytes: number }
export interface RecipeModel { path: string; files: RecipeFile[] }

export interface Recipe {
  format: number
  name: string
  engineVersion: string
  method: string
  params: Record<string, unknown>
  seed: number
  pool: { base: RecipeModel; models: RecipeModel[] }
  /** benchmark to evaluate on after merging, or null for merge only */
  benchmark: string | null
  output: { dtype: FloatOutDType; keepModel: boolean }
}

const DTYPES: readonly FloatOutDType[] = ['f32', 'bf16', 'f16']
const TOP_KEYS = ['format', 'name', 'engineVersion', 'method', 'params', 'seed', 'pool', 'benchmark', 'output']

export class RecipeError extends AmalgamError {
  readonly field: string
  constructor(source: string, field: string, message: string) {
    super('BAD_PARAM', `${source}: ${field}: ${message}`, { field })
    this.field = field
  }
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Checks a parsed recipe object field by field; the error names the first bad field. */
export function validateRecipe(v: unknown, source = 'recipe'): Recipe {
  const fail = (field: string, msg: string): never => { throw new RecipeError(source, field, msg) }
  if (!isObj(v)) fail('(root)', 'a recipe must be a mapping of fields')
  const o = v as Obj
  for (const k of Object.keys(o)) if (!TOP_KEYS.includes(k)) fail(k, `unknown field (expected one of ${TOP_KEYS.join(', ')})`)
  if (o.format !== RECIPE_FORMAT) fail('format', `must be ${RECIPE_FORMAT}, got ${JSON.stringify(o.format)}`)
  const str = (field: string, x: unknown, allowEmpty = false): string => {
    if (typeof x !== 'string' || (!allowEmpty && x.trim() === '')) fail(field, `must be a non-empty string, got ${JSON.stringify(x)}`)
    return x as string
  }
  const name = str('name', o.name, true)
  const engineVersion = str('engineVersion', o.engineVersion)
  const method = str('method', o.method)
  if (!/^[a-z][a-z0-9_]*$/.test(method)) fail('method', `"${method}" is not a method name (lowercase letters, digits, _)`)
  if (!isObj(o.params)) fail('params', 'must be a mapping of parameter names to values')
  const params = o.params as Obj
  for (const [k, x] of Object.entries(params)) checkParamValue(`params.${k}`, x, fail)
  if (!Number.isSafeInteger(o.seed) || (o.seed as number) < 0) fail('seed', `must be a non-negative integer, got ${JSON.stringify(o.seed)}`)
  if (!isObj(o.pool)) fail('pool', 'must be a mapping with base and models')
  const pool = o.pool as Obj
  for (const k of Object.keys(pool)) if (k !== 'base' && k !== 'models') fail(`pool.${k}`, 'unknown field (expected base, models)')
  const base = model('pool.base', pool.base, fail, str)
  if (!Array.isArray(pool.models) || pool.models.length === 0) fail('pool.models', 'must be a non-empty list of models')
  const models = (pool.models as unknown[]).map((m, i) => model(`pool.models[${i}]`, m, fail, str))
  if (o.benchmark !== null && typeof o.benchmark !== 'string') fail('benchmark', 'must be a benchmark name (e.g. mini8) or null')
  if (!isObj(o.output)) fail('output', 'must be a mapping with dtype and keepModel')
  const out = o.output as Obj
  for (const k of Object.keys(out)) if (k !== 'dtype' && k !== 'keepModel') fail(`output.${k}`, 'unknown field (expected dtype, keepModel)')
  if (!DTYPES.includes(out.dtype as FloatOutDType)) fail('output.dtype', `must be one of ${DTYPES.join(', ')}, got ${JSON.stringify(out.dtype)}`)
  if (typeof out.keepModel !== 'boolean') fail('output.keepModel', `must be true or false, got ${JSON.stringify(out.keepModel)}`)
  return {
    format: RECIPE_FORMAT, name, engineVersion, method, params: { ...params }, seed: o.seed as number,
    pool: { base, models }, benchmark: (o.benchmark as string | null), output: { dtype: out.dtype as FloatOutDType, keepModel: out.keepModel as boolean },
  }
}

function model(field: string, v: unknown, fail: (f: string, m: string) => never, str: (f: string, x: unknown) => string): RecipeModel {
  if (!isObj(v)) fail(field, 'must be a mapping with path and files')
  const o = v as Obj
  for (const k of Object.keys(o)) if (k !== 'path' && k !== 'files') fail(`${field}.${k}`, 'unknown field (expected path, files)')
  const path = str(`${field}.path`, o.path)
  if (!Array.isArray(o.files) || o.files.length === 0) fail(`${field}.files`, 'must list the checkpoint files with their sha256')
  const files = (o.files as unknown[]).map((f, i) => {
    const ff = `${field}.files[${i}]`
    if (!isObj(f)) fail(ff, 'must be a mapping with file, sha256, bytes')
    const fo = f as Obj
    const file = str(`${ff}.file`, fo.file)
    if (typeof fo.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(fo.sha256)) fail(`${ff}.sha256`, 'must be 64 lowercase hex digits')
    if (!Number.isSafeInteger(fo.bytes) || (fo.bytes as number) < 0) fail(`${ff}.bytes`, 'must be a non-negative integer')
    return { file, sha256: fo.sha256 as string, bytes: fo.bytes as number }
  })
  return { path, files }
}

function checkParamValue(field: string, x: unknown, fail: (f: string, m: string) => never): void {
  if (x === null || typeof x === 'string' || typeof x === 'boolean') return
  if (typeof x === 'number') { if (!Number.isFinite(x)) fail(field, `must be a finite number, got ${x}`); return }
  if (Array.isArray(x)) { x.forEach((y, i) => checkParamValue(`${field}[${i}]`, y, fail)); return }
  if (isObj(x)) { for (const [k, y] of Object.entries(x)) checkParamValue(`${field}.${k}`, y, fail); return }
  fail(field, `has an unsupported value type (${typeof x})`)
}
