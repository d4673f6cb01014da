// Layer-wise AdaMerging (Yang et al., ICLR 2024; methods.md §24): one coefficient per task and
// parameter tensor (N × 199 for ViT-B/32), learned by entropy minimisation on unlabeled test
// batches (transductive). FusionBench clip_layer_wise_adamerging defaults.
import { defineMethod } from '../types'
import { FB } from './_params'
import { adaParams, adaPresets, runAdaMerging, type AdaParams } from './_data-adamerging-run'

export default defineMethod<AdaParams>({
  info: {
    name: 'layer_wise_adamerging',
    title: 'AdaMerging (layer-wise)',
    family: 'data-dependent',
    description: 'θ_l = θ0_l + Σ_i λ_{i,l} τ_{i,l} for every parameter tensor l, with the coefficients learned by minimising the prediction entropy of the merged model on unlabeled test images (transductive). task_vectors=ties gives AdaMerging++.',
    citation: `Yang et al., AdaMerging: Adaptive Model Merging for Multi-Task Learning, ICLR 2024; ${FB} clip_layer_wise_adamerging; methods.md §24`,
    params: adaParams,
    presets: adaPresets,
  },
  async merge(job) { await runAdaMerging(job, { granularity: 'layer' }) },
})
