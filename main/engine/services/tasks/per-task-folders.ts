// The folder set a per-task run keeps: runs/<id>/model/<task>/ for each task of the pool, each a
// Hugging Face folder whose card and safetensors metadata name its task.
import { HfFolderSet, taskFolders } from '../../checkpoints/folder-set'
import type { TensorMeta, TensorSource } from '../../tensors/source'
import type { ExperimentTaskInput } from './experiment'

export type KeptTaskFoldersInput = Pick<ExperimentTaskInput, 'method' | 'params' | 'seed' | 'base' | 'models' | 'names' | 'dtype' | 'recipeYaml'> & { modelDir: string }

export async function openKeptTaskFolders(input: KeptTaskFoldersInput, base: TensorSource & { dir: string }): Promise<HfFolderSet> {
  const plan: TensorMeta[] = base.names().map((n) => base.meta(n))
  const entries = taskFolders(input.names).map(({ task, dir }) => ({
    task, dir,
    opts: {
      baseDir: base.dir, plan, dtype: input.dtype, recipeYaml: input.recipeYaml,
      metadata: { amalgam_task: task },
      card: { name: `${input.method} · ${task}`, method: input.method, params: input.params, seed: input.seed, base: { path: input.base }, models: input.models.map((path) => ({ path })), task },
    },
  }))
  // the run folder is fresh, but a retried job may find a stale model there: replace it
  return HfFolderSet.create(input.modelDir, entries, { overwrite: true, method: input.method })
}
