// Task-wise AdaMerging (Yang et al., ICLR 2024; methods.md §24): one coefficient per task, learned
// by entropy minimisation on unlabeled test batches (transductive). FusionBench
// clip_task_wise_adamerging defaults.
import { defineMethod } from '../types'
import { FB } from './_params'
import { adaParams, adaPresets, runAdaMerging, type AdaParams } from './_data-adamerging-run'

export default defineMethod<AdaParams>({
  info: {
    name: 'task_wise_adamerging',
    title: 'AdaMerging (task-wise)',
    family: 'data-dependent',
    description: 'θ = θ0 + Σ_i λ_i τ_i with the N coefficients learned by minimising the prediction entropy of the merged model on unlabeled test images (transductive). task_vectors=ties gives AdaMerging++.',
    citation: `Yang et al., AdaMerging: Adaptive Model Merging for Multi-Task Learning, ICLR 2024; ${FB} clip_task_wise_adamerging; methods.md §24`,
    params: adaParams,
    presets: adaPresets,
  },
  async merge(job) { await runAdaMerging(job, { granularity: 'task' }) },
})
