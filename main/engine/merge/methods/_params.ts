// Parameter specs shared by several methods, under FusionBench's names (methods.md §0.8, §29).
import type { ParamSpec } from '#common/types'
import { AmalgamError } from '#common/errors'

export const scalingFactor = (def: number, citation: string, description = 'λ: θ = θ0 + λ·merged task vector'): ParamSpec =>
  ({ name: 'scaling_factor', type: 'number', default: def, min: -10, max: 10, description, citation })

export const tiesThreshold = (citation: string): ParamSpec => ({
  name: 'threshold', type: 'number', default: 20, min: 0, max: 100,
  description: 'TIES keep fraction K per task: a percentage when > 1 (20 = top 20 %), else a fraction; 100 % is rejected (FusionBench crashes there)',
  citation,
})

export const mergeFunc = (citation: string): ParamSpec => ({
  name: 'merge_func', type: 'enum', default: 'sum', choices: ['sum', 'mean', 'max'],
  description: 'disjoint merge of the entries that agree with the elected sign: sum (FusionBench), mean (TIES paper), max',
  citation,
})

export const sparsityRatio = (citation: string): ParamSpec => ({
  name: 'sparsity_ratio', type: 'number', default: 0.5, min: 0, max: 1,
  description: 'DARE drop rate p: each task-vector entry is dropped with probability p (must be < 1)',
  citation,
})

export const rescale = (citation: string): ParamSpec => ({
  name: 'rescale', type: 'boolean', default: true,
  description: 'divide kept entries by (1 − p) (FusionBench); with variant=mergekit, match the tensor’s L1 norm instead',
  citation,
})

export const onlyLinear = (citation: string): ParamSpec => ({
  name: 'only_on_linear_weights', type: 'boolean', default: false,
  description: 'drop only nn.Linear weights (2-D .weight tensors that are not embeddings); other deltas stay dense',
  citation,
})

export const excludeKeys = (citation: string, name = 'exclude_keys'): ParamSpec => ({
  name, type: 'string', default: '',
  description: 'comma-separated tensor names handled as non-2-D tensors (mean task vector) instead of by the SVD merge',
  citation,
})

export const FB = 'FusionBench tanganke/fusion_bench@54c9e8c9'

/** `exclude_param_names_regex` (RegMean, Fisher) compiled; an unparsable pattern is a BAD_PARAM naming the method. */
export function compileExcludeRegex(method: string, pattern: string): RegExp | null {
  if (!pattern) return null
  try { return new RegExp(pattern) } catch (e) {
    throw new AmalgamError('BAD_PARAM', `${method}: parameter "exclude_param_names_regex" is not a valid regular expression: ${(e as Error).message}`)
  }
}
