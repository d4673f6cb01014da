// TIES-Merging (methods.md §3, §29): trim each task vector to its global top-K % by magnitude
// (ties at the threshold kept), elect a sign per coordinate, merge the agreeing entries.
import { defineMethod } from '../types'
import { keyList } from '../schema'
import { FB, mergeFunc, scalingFactor, tiesThreshold } from './_params'
import { runTies, tiesCheck, type TiesParams } from './_ties-run'
import { taskVectors } from './_stream'

export default defineMethod<TiesParams>({
  info: {
    name: 'ties_merging',
    title: 'TIES-Merging',
    family: 'data-free',
    description: 'Trim every task vector to its top-K % magnitudes (one threshold per task over the whole model, FusionBench), elect the sign with the larger mass per coordinate, and merge only the entries that agree with it.',
    citation: `Yadav et al., TIES-Merging, NeurIPS 2023; ${FB} config/method/ties_merging.yaml; methods.md §3, §29`,
    params: [
      scalingFactor(0.3, `${FB} ties_merging.yaml (scaling_factor: 0.3)`),
      tiesThreshold(`${FB} ties_merging.yaml (threshold: 20)`),
      mergeFunc(`${FB} ties_merging.yaml (merge_func: sum); TIES paper: mean`),
      { name: 'remove_keys', type: 'string', default: '', description: 'comma-separated tensor names left out of the merge (they keep θ0)', citation: `${FB} ties_merging.yaml (remove_keys: [])` },
      { name: 'variant', type: 'enum', default: 'fusion_bench', choices: ['fusion_bench', 'mergekit'], description: 'fusion_bench: global-per-task kth-value trim, zero mass → global majority sign; mergekit: per-tensor exact top-int(K·n) trim, zero mass counts as +', citation: 'methods.md §3 Variants, §29' },
    ],
    presets: [{ name: 'TIES paper', params: { merge_func: 'mean', scaling_factor: 1.0 }, note: 'disjoint mean; λ tuned in 0.8…2.5 on validation in the paper' }],
  },
  check: (p) => tiesCheck('ties_merging', p),
  async merge(job) {
    await runTies(job, (s, into) => taskVectors(s, into), keyList(job.params.remove_keys), true, 'tau')
  },
})
