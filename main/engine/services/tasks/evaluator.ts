// The default evaluator of experiment runs: the benchmark's own evaluation, in memory, on the
// merged tensors (no disk round trip).
import type { EvalResult } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { TensorSource } from '../../tensors/source'
import type { TaskCtx } from '../../util/task'

export async function evaluateOnBenchmark(
  model: TensorSource | ((task: string) => TensorSource),
  opts: { benchmark: string },
  ctx: TaskCtx,
): Promise<EvalResult & { backend: string }> {
  if (opts.benchmark !== 'mini8') throw new AmalgamError('BAD_PARAM', `benchmark ${opts.benchmark} is not available (known: mini8)`)
  const [{ evaluate }, { getModelTf }] = await Promise.all([import('../../benchmark/evaluate'), import('../../model/tf')])
  const r = await evaluate(model, {}, ctx)
  const tf = await getModelTf()
  return { ...r, backend: `tfjs-${tf.getBackend()}` }
}
