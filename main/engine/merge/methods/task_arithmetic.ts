// Task Arithmetic: θ = θ0 + λ Σ_t (θ_t − θ0) (methods.md §2).
import { defineMethod } from '../types'
import { FB, scalingFactor } from './_params'
import { taskArithmeticInto } from '../../kernels/elementwise'
import { writeTensors } from './_stream'

interface P { scaling_factor: number; [k: string]: unknown }

export default defineMethod<P>({
  info: {
    name: 'task_arithmetic',
    title: 'Task Arithmetic',
    family: 'data-free',
    description: 'Adds the scaled sum of the task vectors τ_t = θ_t − θ0 to the base model.',
    citation: `Ilharco et al., Editing models with task arithmetic, ICLR 2023; ${FB} config/method/task_arithmetic.yaml; methods.md §2`,
    params: [scalingFactor(0.3, `${FB} task_arithmetic.yaml (scaling_factor: 0.3)`)],
    presets: [{ name: 'mergekit (λ = 1)', params: { scaling_factor: 1 }, note: 'mergekit task_arithmetic with weights 1 and lambda 1' }],
  },
  async merge(job) {
    // fused kernel: Σ_i θ_i − N·θ0 accumulated in float64 and rounded once (FusionBench sums
    // float32 task vectors; the two agree to float32 rounding)
    // (the input arrays are recycled across tensors: only the output is allocated per tensor)
    await writeTensors(job, 'merge', (s) => taskArithmeticInto(s.output!(), s.base, s.models, job.params.scaling_factor), undefined, { reuseInputs: true })
  },
})
