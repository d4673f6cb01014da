// DARE + TIES (methods.md §4): random drop and rescale, then FusionBench's global TIES on τ̃
// (FusionBench sparsifies twice: random drop, then the top-K % trim).
import { defineMethod } from '../types'
import { DareMasks } from './_dare'
import { dareCheck, dareFilter, dareParams, type DareParams } from './_dare-params'
import { FB, mergeFunc, scalingFactor, tiesThreshold } from './_params'
import { runTies, tiesCheck, type TiesParams } from './_ties-run'
import { taskVectors } from './_stream'

type P = DareParams & { scaling_factor: number; threshold: number; merge_func: TiesParams['merge_func']; ties_variant: TiesParams['variant'] }

export default defineMethod<P>({
  info: {
    name: 'dare_ties_merging',
    title: 'DARE + TIES-Merging',
    family: 'data-free',
    description: 'Drops each task-vector entry with probability p and rescales, then runs TIES (global top-K % trim, sign election, disjoint merge) on the result.',
    citation: `Yu et al., DARE, ICML 2024; ${FB} config/method/dare/ties_merging.yaml; methods.md §4`,
    params: [
      scalingFactor(0.5, `${FB} dare/ties_merging.yaml (scaling_factor: 0.5)`),
      ...dareParams('dare/ties_merging.yaml'),
      tiesThreshold(`${FB} dare/ties_merging.yaml (threshold: 20)`),
      mergeFunc(`${FB} dare/ties_merging.yaml (merge_func: sum)`),
      { name: 'ties_variant', type: 'enum', default: 'fusion_bench', choices: ['fusion_bench', 'mergekit'], description: 'TIES stage: fusion_bench global-per-task trim, or mergekit per-tensor exact top-k', citation: 'methods.md §3 Variants' },
    ],
  },
  check(p) {
    dareCheck('dare_ties_merging', p)
    tiesCheck('dare_ties_merging', { ...p, variant: p.ties_variant })
  },
  async merge(job) {
    const p = job.params
    const masks = DareMasks.draw(job, p.sparsity_ratio, dareFilter(p), p.variant)
    const tiesJob = { ...job, params: { ...p, variant: p.ties_variant } }
    // the dropped vectors are a function of the pool, the DARE settings and the seed
    const tag = JSON.stringify({ dare: [p.sparsity_ratio, p.rescale, p.variant, p.only_on_linear_weights, job.seed] })
    await runTies(tiesJob, (s, into) => masks.vectors(s, taskVectors(s, into), p.sparsity_ratio, p.rescale, p.variant), [], false, tag)
    const tiesKept = job.diag.values.keptFraction
    job.diag.set('tiesKeptFraction', tiesKept)
    job.diag.set('dareKeptFraction', masks.keptFraction())
    delete job.diag.values.keptFraction
  },
})
