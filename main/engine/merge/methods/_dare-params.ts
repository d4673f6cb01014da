// Parameters and checks shared by the three DARE methods.
import type { ParamSpec } from '#common/types'
import { paramError } from '../schema'
import { FB, onlyLinear, rescale, sparsityRatio } from './_params'
import { isLinearWeight, type TensorFilter } from './_stream'
import type { DareVariant } from './_dare'

export interface DareParams { sparsity_ratio: number; only_on_linear_weights: boolean; rescale: boolean; variant: DareVariant; [k: string]: unknown }

export const dareParams = (cfg: string): ParamSpec[] => [
  sparsityRatio(`${FB} ${cfg} (sparsity_ratio: 0.5)`),
  onlyLinear(`${FB} ${cfg} (only_on_linear_weights: false)`),
  rescale(`${FB} ${cfg} (rescale: true)`),
  {
    name: 'variant', type: 'enum', default: 'fusion_bench', choices: ['fusion_bench', 'mergekit'],
    description: 'fusion_bench: keep where u > p, divide by (1 − p); mergekit: keep where u < 1 − p, rescale each tensor to its original L1 norm',
    citation: 'methods.md §4 Variants, §29',
  },
]

export function dareCheck(method: string, p: DareParams): void {
  if (p.sparsity_ratio >= 1) throw paramError(method, 'sparsity_ratio', `must be < 1 (p = 1 drops every entry and the rescale divides by 0), got ${p.sparsity_ratio}`)
}

export const dareFilter = (p: DareParams): TensorFilter | undefined => p.only_on_linear_weights ? isLinearWeight : undefined
