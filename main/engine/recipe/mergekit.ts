// Import of mergekit YAML configs for the methods both tools have. mergekit's semantics differ
// from FusionBench's defaults for several methods (methods.md §29: per-tensor TIES trimming,
// L1-rescaled DARE, cosine-averaged Model Stock), so those map to our method with
// `variant: mergekit`. What we cannot express is rejected with the reason, never silently dropped.
import { dirname, isAbsolute, resolve } from 'node:path'
import type { FloatOutDType, MethodInfo } from '#common/types'
import { AmalgamError } from '#common/errors'
import { parseYaml } from './yaml'

export interface MergekitImport {
  method: string
  params: Record<string, unknown>
  base: string
  models: string[]
  dtype: FloatOutDType
  /** fields that were accepted but have no effect in Amalgam, each with the reason */
  warnings: string[]
}

interface MethodMap { ours: string; variant: boolean; needsBase: boolean }
const METHODS: Record<string, MethodMap> = {
  linear: { ours: 'weighted_average', variant: false, needsBase: false },
  task_arithmetic: { ours: 'task_arithmetic', variant: false, needsBase: true },
  ties: { ours: 'ties_merging', variant: true, needsBase: true },
  dare_linear: { ours: 'dare_task_arithmetic', variant: true, needsBase: true },
  dare_ties: { ours: 'dare_ties_merging', variant: true, needsBase: true },
  slerp: { ours: 'slerp', variant: false, needsBase: true },
  breadcrumbs: { ours: 'breadcrumbs', variant: true, needsBase: true },
  della: { ours: 'della', variant: true, needsBase: true },
  model_stock: { ours: 'model_stock', variant: true, needsBase: true },
  nuslerp: { ours: 'nuslerp', variant: false, needsBase: false },
}
export const MERGEKIT_METHODS = Object.keys(METHODS)

/** mergekit parameters each method understands (global or per model). */
const KNOWN_PARAMS: Record<string, string[]> = {
  linear: ['weight', 'normalize'],
  task_arithmetic: ['weight', 'lambda', 'normalize'],
  ties: ['weight', 'density', 'lambda', 'normalize'],
  dare_linear: ['weight', 'density', 'lambda', 'normalize', 'rescale'],
  dare_ties: ['weight', 'density', 'lambda', 'normalize', 'rescale'],
  slerp: ['t'],
  breadcrumbs: ['weight', 'density', 'gamma', 'lambda', 'normalize'],
  della: ['weight', 'density', 'epsilon', 'lambda', 'normalize', 'rescale'],
  model_stock: [],
  nuslerp: ['weight', 'nuslerp_flatten', 'nuslerp_row_wise'],
}

/** marker: slerp interpolates between the base and the one other model */
const SLERP_PAIR: string[] = []

interface TranslateIn {
  global: Obj
  perModel(k: string, dflt: unknown): unknown[]
  one(k: string, dflt: unknown, ours: string): unknown
  lambda: number
  n: number
  fail(field: string, msg: string): never
  warnings: string[]
  hasBase: boolean
}
interface TranslateOut { method?: string; params: Record<string, unknown>; models?: string[] }

/**
 * mergekit's formula for each method, rewritten in our method's parameters. Task-vector sums are
 * θ0 + λ Σ w_t τ_t (÷ Σ w_t when `normalize`); our methods have one scaling_factor, so per-model
 * weights must be equal (w) and fold into it: λ·w, or λ/N when normalised. With sign consensus
 * (ties, dare_ties, della) normalising divides by the agreeing weights: a disjoint mean.
 */
function translate(mm: string, x: TranslateIn): TranslateOut {
  const w = () => Number(x.one('weight', 1, 'this method'))
  const linearScale = (normalize: boolean) => (normalize ? x.lambda / x.n : x.lambda * w())
  const density = (ours: string) => Number(x.one('density', 1, ours))
  const bool = (k: string, dflt: boolean) => {
    const v = x.global[k] ?? dflt
    if (typeof v !== 'boolean') x.fail(`parameters.${k}`, 'must be true or false')
    return v as boolean
  }
  switch (mm) {
    case 'linear': {
      const weights = x.perModel('weight', undefined)
      if (weights.every((v) => v === undefined)) return { method: 'simple_average', params: {} }
      if (weights.some((v) => typeof v !== 'number')) x.fail('models[].parameters.weight', 'give a weight for every model')
      return { params: { weights, normalize: bool('normalize', true) } }
    }
    case 'task_arithmetic':
      w()
      return { params: { scaling_factor: linearScale(bool('normalize', false)) } }
    case 'ties': {
      const d = density('ties_merging')
      if (!(d > 0 && d < 1)) x.fail('density', `ties_merging needs a density strictly between 0 and 1 (got ${d}; mergekit's default 1.0 means no trimming — use task_arithmetic for that)`)
      const normalize = bool('normalize', true)
      return { params: { threshold: d, merge_func: normalize ? 'mean' : 'sum', scaling_factor: normalize ? x.lambda : x.lambda * w() } }
    }
    case 'dare_linear':
      return { params: { sparsity_ratio: 1 - density('dare_task_arithmetic'), rescale: bool('rescale', true), scaling_factor: linearScale(bool('normalize', false)) } }
    case 'dare_ties': {
      const normalize = bool('normalize', false)
      x.warnings.push('dare_ties: mergekit does not trim by magnitude after the random drop; Amalgam\'s dare_ties_merging also keeps only the top `threshold` (default 20 %) of each task vector — set threshold to change that')
      return { params: { sparsity_ratio: 1 - density('dare_ties_merging'), rescale: bool('rescale', true), ties_variant: 'mergekit', merge_func: normalize ? 'mean' : 'sum', scaling_factor: normalize ? x.lambda : x.lambda * w() } }
    }
    case 'breadcrumbs': {
      const gamma = x.one('gamma', 0.01, 'breadcrumbs')
      return { params: { density: density('breadcrumbs'), gamma, scaling_factor: linearScale(bool('normalize', false)) } }
    }
    case 'della': {
      if (!bool('normalize', true)) x.fail('parameters.normalize', 'della without normalisation (a plain weighted sum) is not supported; remove normalize: false')
      w()
      return { params: { density: density('della'), epsilon: x.one('epsilon', 0.15, 'della'), rescale: bool('rescale', true), consensus: 'sum', scaling_factor: x.lambda } }
    }
    case 'model_stock':
      return { params: {} }
    case 'slerp': {
      if (x.n !== 1) x.fail('models', `slerp interpolates between base_model and exactly one other model (got ${x.n} others)`)
      const tv = x.global.t
      if (typeof tv !== 'number') x.fail('parameters.t', 'slerp needs t, one number (the interpolation factor)')
      return { params: { t: tv }, models: SLERP_PAIR }
    }
    case 'nuslerp': {
      if (x.n !== 2) x.fail('models', `nuslerp needs exactly two models besides the base (got ${x.n})`)
      const weights = x.perModel('weight', undefined)
      if (weights.some((v) => typeof v !== 'number')) x.fail('models[].parameters.weight', 'nuslerp needs a weight for each of the two models')
      return { params: { weights, nuslerp_flatten: bool('nuslerp_flatten', true), nuslerp_row_wise: bool('nuslerp_row_wise', false), use_base: x.hasBase } }
    }
  }
  return x.fail('merge_method', `${mm} has no translation`)
}

const DTYPES: Record<string, FloatOutDType> = { float32: 'f32', fp32: 'f32', bfloat16: 'bf16', bf16: 'bf16', float16: 'f16', fp16: 'f16', half: 'f16' }

const IGNORED_TOP: Record<string, string> = {
  tokenizer_source: 'Amalgam merges vision models without tokenizers; the tokenizer setting is ignored',
  tokenizer: 'Amalgam merges vision models without tokenizers; the tokenizer setting is ignored',
  chat_template: 'chat templates do not apply to the vision models Amalgam merges; ignored',
  name: 'informational only',
}
const IGNORED_PARAMS: Record<string, string> = {
  int8_mask: 'int8_mask only saves memory in mergekit; Amalgam computes masks in f32 (results can differ in the last bit)',
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Converts a mergekit config to our method + params + pool. `source` is the file path (relative
 * model paths resolve against its folder). `methods`, when given, is the registry: the result's
 * method and parameter names are checked against it.
 */
export function importMergekit(text: string, source: string, methods?: MethodInfo[]): MergekitImport {
  const data = parseYaml(text, source)
  const fail = (field: string, msg: string): never => { throw new AmalgamError('BAD_PARAM', `${source}: ${field}: ${msg}`, { field }) }
  if (!isObj(data)) return fail('(root)', 'a mergekit config must be a mapping')
  const warnings: string[] = []
  const mm = data.merge_method
  if (typeof mm !== 'string') return fail('merge_method', 'missing; this does not look like a mergekit config')
  const map = METHODS[mm]
  if (!map) return fail('merge_method', `"${mm}" has no Amalgam equivalent (supported: ${MERGEKIT_METHODS.join(', ')})`)
  for (const k of Object.keys(data)) {
    if (['merge_method', 'models', 'base_model', 'parameters', 'dtype', 'out_dtype'].includes(k)) continue
    if (k === 'slices') fail('slices', 'layer slices (frankenmerges, per-slice sources) are not supported; list whole models under `models:` instead')
    else if (IGNORED_TOP[k]) warnings.push(`${k}: ${IGNORED_TOP[k]}`)
    else fail(k, 'is not a mergekit field Amalgam understands')
  }
  const dir = dirname(resolve(source))
  const pathOf = (field: string, v: unknown): string => {
    if (typeof v !== 'string' || !v.trim()) return fail(field, 'must be a model path')
    if (v.includes('+')) fail(field, `"${v}" applies a LoRA with "+"; merge LoRA adapters into their base first`)
    // Hub ids (org/name) are not downloaded: Amalgam works offline on local folders.
    return isAbsolute(v) ? v : resolve(dir, v)
  }
  if (!Array.isArray(data.models) || data.models.length === 0) return fail('models', 'must list the models to merge')
  const entries = (data.models as unknown[]).map((m, i) => {
    const f = `models[${i}]`
    if (typeof m === 'string') return { path: pathOf(f, m), params: {} as Obj }
    if (!isObj(m)) return fail(f, 'must be a mapping with model and parameters')
    for (const k of Object.keys(m)) if (k !== 'model' && k !== 'parameters') fail(`${f}.${k}`, 'is not supported (expected model, parameters)')
    const p = m.parameters === undefined ? {} : m.parameters
    if (!isObj(p)) return fail(`${f}.parameters`, 'must be a mapping')
    return { path: pathOf(`${f}.model`, m.model), params: p as Obj }
  })
  const hasBase = data.base_model !== undefined
  let base = hasBase ? pathOf('base_model', data.base_model) : undefined
  // mergekit lets the base appear in `models` too; for task-vector methods it contributes nothing.
  const fineTuned = base === undefined ? entries : entries.filter((e) => e.path !== base)
  if (base === undefined) {
    if (map.needsBase) fail('base_model', `merge_method ${mm} needs a base_model`)
    // Averages need no base, but a pool has one; the first model plays that role only for checks.
    base = entries[0]!.path
  }
  const g = data.parameters === undefined ? {} : data.parameters
  if (!isObj(g)) return fail('parameters', 'must be a mapping')
  const scalar = (field: string, v: unknown): unknown => {
    if (Array.isArray(v) || isObj(v)) fail(field, 'per-tensor filters and gradients (lists of values) are not supported; give one value')
    return v
  }
  const known = KNOWN_PARAMS[mm]!
  const global: Obj = {}
  for (const [k, v] of Object.entries(g as Obj)) {
    if (IGNORED_PARAMS[k]) { warnings.push(`parameters.${k}: ${IGNORED_PARAMS[k]}`); continue }
    if (!known.includes(k)) fail(`parameters.${k}`, `is not a ${mm} parameter Amalgam can map (it maps ${known.join(', ') || 'none'})`)
    global[k] = scalar(`parameters.${k}`, v)
  }
  for (const [i, e] of fineTuned.entries()) {
    for (const k of Object.keys(e.params)) {
      if (IGNORED_PARAMS[k]) { warnings.push(`models[${i}].parameters.${k}: ${IGNORED_PARAMS[k]}`); continue }
      if (!known.includes(k)) fail(`models[${i}].parameters.${k}`, `is not a ${mm} parameter Amalgam can map (it maps ${known.join(', ') || 'none'})`)
      scalar(`models[${i}].parameters.${k}`, e.params[k])
    }
  }
  // A per-model value falls back to the global one, then to mergekit's default.
  const perModel = (k: string, dflt: unknown): unknown[] => fineTuned.map((e) => e.params[k] ?? global[k] ?? dflt)
  const one = (k: string, dflt: unknown, ours: string): unknown => {
    const v = perModel(k, dflt)
    if (v.some((x) => x !== v[0])) fail(`models[].parameters.${k}`, `differs between models; Amalgam's ${ours} takes one value for all models`)
    return v[0]
  }
  const lambda = Number(global.lambda ?? 1)
  const n = fineTuned.length
  const t = translate(mm, { global, perModel, one, lambda, n, fail, warnings, hasBase })
  if (map.variant) t.params.variant = 'mergekit'
  const method = t.method ?? map.ours
  const params = t.params
  const outModels = t.models ?? fineTuned.map((e) => e.path)

  const dt = data.out_dtype ?? data.dtype
  let dtype: FloatOutDType = 'f32'
  if (dt !== undefined) {
    const d = DTYPES[String(dt)]
    if (!d) fail(data.out_dtype !== undefined ? 'out_dtype' : 'dtype', `"${String(dt)}" is not one of ${Object.keys(DTYPES).join(', ')}`)
    dtype = d!
    if (data.out_dtype === undefined && d !== 'f32') warnings.push(`dtype: mergekit computes in ${String(dt)}; Amalgam computes in f32 and writes ${d}`)
  }
  if (methods) checkAgainstRegistry(method, params, methods, warnings, source)
  return { method, params, base, models: outModels === SLERP_PAIR ? [base, ...fineTuned.map((e) => e.path)] : outModels, dtype, warnings }
}

function checkAgainstRegistry(method: string, params: Record<string, unknown>, methods: MethodInfo[], warnings: string[], source: string): void {
  const info = methods.find((m) => m.name === method)
  if (!info) throw new AmalgamError('UNKNOWN_METHOD', `${source}: maps to method ${method}, which this engine does not provide`)
  const known = new Set(info.params.map((p) => p.name))
  for (const k of Object.keys(params)) {
    if (!known.has(k)) throw new AmalgamError('BAD_PARAM', `${source}: maps to ${method} parameter ${k}, which ${method} does not have (it has ${[...known].join(', ') || 'no parameters'})`, { field: k })
  }
  const variant = info.params.find((p) => p.name === 'variant')
  if (params.variant !== undefined && variant?.choices && !variant.choices.includes(String(params.variant))) {
    throw new AmalgamError('BAD_PARAM', `${source}: ${method} has no "${String(params.variant)}" variant (choices: ${variant.choices.join(', ')})`)
  }
}
