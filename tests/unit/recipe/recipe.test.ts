import { describe, expect, it } from 'vitest'
import { parse as parseYamlText } from 'yaml'
import type { MethodInfo } from '#common/types'
import { listMethods } from '../../../main/engine/merge/registry'
import { importMergekit, MERGEKIT_METHODS, parseRecipe, serialiseRecipe, validateRecipe, type Recipe } from '../../../main/engine/recipe'

const H = (c: string) => c.repeat(64)
const recipe = (): Recipe => ({
  format: 1, name: 'TA λ=0.3', engineVersion: '0.1.0', method: 'dare_ties_merging',
  params: { sparsity_ratio: 0.5, scaling_factor: 0.3, rescale: true, weights: [0.25, 1e-20, 3], variant: 'mergekit', nested: { a: null } },
  seed: 42,
  pool: {
    base: { path: '/models/base', files: [{ file: 'model.safetensors', sha256: H('a'), bytes: 123 }] },
    models: [
      { path: '/models/ft 1', files: [{ file: 'model-00001-of-00002.safetensors', sha256: H('b'), bytes: 5e9 }, { file: 'model-00002-of-00002.safetensors', sha256: H('c'), bytes: 1 }] },
      { path: 'C:\\models\\ft2', files: [{ file: 'model.safetensors', sha256: H('d'), bytes: 0 }] },
    ],
  },
  benchmark: 'mini8',
  output: { dtype: 'bf16', keepModel: true },
})

describe('recipes', () => {
  it('round-trips: parse(serialise(r)) deep-equals r', () => {
    const r = recipe()
    const text = serialiseRecipe(r)
    expect(parseRecipe(text)).toEqual(r)
    const noBench = { ...r, benchmark: null, params: {} }
    expect(parseRecipe(serialiseRecipe(noBench))).toEqual(noBench)
    // the file uses snake_case for its own keys, parameter names verbatim
    const raw = parseYamlText(text) as Record<string, any>
    expect(raw.engine_version).toBe('0.1.0')
    expect(raw.output.keep_model).toBe(true)
    expect(raw.params.sparsity_ratio).toBe(0.5)
  })

  it('names the offending field', () => {
    const bad = (mut: (o: any) => void) => {
      const o = parseYamlText(serialiseRecipe(recipe()))
      mut(o)
      return () => parseRecipe(JSON.stringify(o), 'r.yaml')
    }
    expect(bad((o) => { o.seed = -1 })).toThrow(/^r\.yaml: seed: must be a non-negative integer/)
    expect(bad((o) => { delete o.method })).toThrow(/method: must be a non-empty string/)
    expect(bad((o) => { o.method = 'Task Arithmetic' })).toThrow(/method: "Task Arithmetic" is not a method name/)
    expect(bad((o) => { o.pool.models[1].files[0].sha256 = 'xyz' })).toThrow(/pool\.models\[1\]\.files\[0\]\.sha256: must be 64 lowercase hex/)
    expect(bad((o) => { o.pool.models = [] })).toThrow(/pool\.models: must be a non-empty list/)
    expect(bad((o) => { o.output.dtype = 'fp8' })).toThrow(/output\.dtype: must be one of f32, bf16, f16/)
    expect(bad((o) => { o.output.keep_model = 'yes' })).toThrow(/output\.keep_model: must be true or false/)
    expect(bad((o) => { o.parms = {} })).toThrow(/parms: unknown field/)
    expect(bad((o) => { o.params.weights = [1, '.inf'] })).not.toThrow()
    expect(bad((o) => { o.format = 2 })).toThrow(/format: must be 1/)
    expect(() => parseRecipe('method: [unclosed', 'x.yaml')).toThrow(/x\.yaml: not valid YAML \(line 1/)
    expect(() => parseRecipe('a: 1\na: 2', 'dup.yaml')).toThrow(/dup\.yaml: not valid YAML/)
    expect(() => validateRecipe({ ...recipe(), params: { x: Number.NaN } })).toThrow(/params\.x: must be a finite number/)
    try { parseRecipe('- 1', 'list.yaml') } catch (e) { expect((e as { details: unknown }).details).toEqual({ field: '(root)' }) }
  })
})

const MK = '/cfg/merge.yml'
const registry: MethodInfo[] = listMethods()

describe('mergekit import', () => {
  it('maps ties: density → threshold, normalize → disjoint mean, relative paths, dtype, ignored fields', () => {
    const r = importMergekit(`
models:
  - model: ./ft1
    parameters: { density: 0.5, weight: 1.0 }
  - model: /abs/ft2
    parameters: { density: 0.5, weight: 1.0 }
  - model: ./base
merge_method: ties
base_model: ./base
parameters:
  normalize: true
  int8_mask: true
  lambda: 1.2
dtype: bfloat16
tokenizer_source: union
`, MK, registry)
    expect(r.method).toBe('ties_merging')
    expect(r.base).toBe('/cfg/base')
    expect(r.models).toEqual(['/cfg/ft1', '/abs/ft2'])
    expect(r.params).toEqual({ threshold: 0.5, merge_func: 'mean', scaling_factor: 1.2, variant: 'mergekit' })
    expect(r.dtype).toBe('bf16')
    expect(r.warnings.join('\n')).toMatch(/int8_mask/)
    expect(r.warnings.join('\n')).toMatch(/tokenizer_source/)
    expect(r.warnings.join('\n')).toMatch(/computes in f32/)
  })

  it('maps every supported merge_method onto a registered method with known parameters', () => {
    const cases: Record<string, [string, string, Record<string, unknown>]> = {
      linear: ['weighted_average', 'models: [{model: /m1, parameters: {weight: 0.7}}, {model: /m2, parameters: {weight: 0.3}}]', { weights: [0.7, 0.3], normalize: true }],
      task_arithmetic: ['task_arithmetic', 'base_model: /b\nmodels: [{model: /m1, parameters: {weight: 0.5}}, {model: /m2, parameters: {weight: 0.5}}]\nparameters: {lambda: 0.6}', { scaling_factor: 0.3 }],
      ties: ['ties_merging', 'base_model: /b\nmodels: [/m1, /m2]\nparameters: {density: 0.2, normalize: false}', { threshold: 0.2, merge_func: 'sum', scaling_factor: 1, variant: 'mergekit' }],
      dare_linear: ['dare_task_arithmetic', 'base_model: /b\nmodels: [{model: /m1, parameters: {density: 0.3}}]\nparameters: {lambda: 0.3}', { sparsity_ratio: 0.7, rescale: true, scaling_factor: 0.3, variant: 'mergekit' }],
      dare_ties: ['dare_ties_merging', 'base_model: /b\nmodels: [/m1, /m2]\nparameters: {density: 0.5}', { sparsity_ratio: 0.5, rescale: true, ties_variant: 'mergekit', merge_func: 'sum', scaling_factor: 1, variant: 'mergekit' }],
      slerp: ['slerp', 'base_model: /b\nmodels: [/b, /m1]\nparameters: {t: 0.3}', { t: 0.3 }],
      breadcrumbs: ['breadcrumbs', 'base_model: /b\nmodels: [/m1, /m2]\nparameters: {density: 0.9, gamma: 0.01}', { density: 0.9, gamma: 0.01, scaling_factor: 1, variant: 'mergekit' }],
      della: ['della', 'base_model: /b\nmodels: [/m1, /m2]\nparameters: {density: 0.7, epsilon: 0.1, lambda: 1.1}', { density: 0.7, epsilon: 0.1, rescale: true, consensus: 'sum', scaling_factor: 1.1, variant: 'mergekit' }],
      model_stock: ['model_stock', 'base_model: /b\nmodels: [/m1, /m2]', { variant: 'mergekit' }],
      nuslerp: ['nuslerp', 'base_model: /b\nmodels: [{model: /m1, parameters: {weight: 1}}, {model: /m2, parameters: {weight: 3}}]', { weights: [1, 3], nuslerp_flatten: true, nuslerp_row_wise: false, use_base: true }],
    }
    expect([...MERGEKIT_METHODS].sort()).toEqual(Object.keys(cases).sort())
    for (const [mm, [ours, body, params]] of Object.entries(cases)) {
      const r = importMergekit(`merge_method: ${mm}\n${body}\n`, MK, registry)
      expect(r.method, mm).toBe(ours)
      for (const [k, v] of Object.entries(params)) {
        if (typeof v === 'number') expect(r.params[k], `${mm}.${k}`).toBeCloseTo(v, 12)
        else expect(r.params[k], `${mm}.${k}`).toEqual(v)
      }
      expect(Object.keys(r.params).sort(), mm).toEqual(Object.keys(params).sort())
    }
    expect(importMergekit('merge_method: slerp\nbase_model: /b\nmodels: [/b, /m1]\nparameters: {t: 0.3}', MK, registry).models).toEqual(['/b', '/m1'])
    // linear without weights is a plain average; normalised TA divides λ by N
    expect(importMergekit('merge_method: linear\nmodels: [/m1, /m2]\n', MK, registry).method).toBe('simple_average')
    expect(importMergekit('merge_method: task_arithmetic\nbase_model: /b\nmodels: [/m1, /m2, /m3, /m4]\nparameters: {normalize: true}', MK, registry).params.scaling_factor).toBe(0.25)
  })

  it('explains what it cannot import', () => {
    const imp = (t: string) => () => importMergekit(t, MK, registry)
    expect(imp('merge_method: passthrough\nmodels: [/a]')).toThrow(/"passthrough" has no Amalgam equivalent \(supported: linear/)
    expect(imp('merge_method: slerp\nslices:\n  - sources: []\n')).toThrow(/slices: layer slices .* are not supported/)
    expect(imp('merge_method: slerp\nbase_model: /b\nmodels: [/a]\nparameters:\n  t:\n    - filter: self_attn\n      value: [0, 1]\n')).toThrow(/parameters\.t: per-tensor filters and gradients/)
    expect(imp('merge_method: ties\nmodels: [/a]')).toThrow(/base_model: merge_method ties needs a base_model/)
    expect(imp('merge_method: ties\nbase_model: /b\nmodels: [/a]')).toThrow(/density: ties_merging needs a density strictly between 0 and 1 \(got 1/)
    expect(imp('merge_method: ties\nbase_model: /b\nmodels: [{model: /a, parameters: {density: 0.5}}, {model: /c, parameters: {density: 0.3}}]')).toThrow(/density: differs between models; Amalgam's ties_merging takes one value/)
    expect(imp('merge_method: task_arithmetic\nbase_model: /b\nmodels: [{model: /a, parameters: {weight: 1}}, {model: /c, parameters: {weight: 2}}]')).toThrow(/weight: differs between models/)
    expect(imp('merge_method: ties\nbase_model: /b\nmodels: [/a]\nparameters: {foo: 1}')).toThrow(/parameters\.foo: is not a ties parameter Amalgam can map/)
    expect(imp('merge_method: ties\nbase_model: /b\nmodels: [model+lora]')).toThrow(/LoRA/)
    expect(imp('merge_method: task_arithmetic\nbase_model: /b\nmodels: [/a]\ndtype: int4')).toThrow(/dtype: "int4" is not one of/)
    expect(imp('merge_method: ties\nbase_model: /b\nmodels: [/a]\nfoo: 1')).toThrow(/foo: is not a mergekit field/)
    expect(imp('merge_method: della\nbase_model: /b\nmodels: [/a]\nparameters: {normalize: false}')).toThrow(/della without normalisation/)
    expect(imp('merge_method: slerp\nbase_model: /b\nmodels: [/a, /c]\nparameters: {t: 0.5}')).toThrow(/exactly one other model/)
    expect(imp('models: [/a]')).toThrow(/merge_method: missing/)
    // the registry is the final word on names
    const small = registry.filter((m) => m.name !== 'della')
    expect(() => importMergekit('merge_method: della\nbase_model: /b\nmodels: [/a]', MK, small)).toThrow(/maps to method della, which this engine does not provide/)
    const noEps = registry.map((m) => ({ ...m, params: m.params.filter((p) => p.name !== 'epsilon') }))
    expect(() => importMergekit('merge_method: della\nbase_model: /b\nmodels: [/a]\nparameters: {epsilon: 0.1}', MK, noEps)).toThrow(/della parameter epsilon, which della does not have/)
  })
})
