// The FusionBench eight-task CLIP setup (TA8) laid out on local disk, see docs/clip-ta8.md:
//   DIR/models/<model>/              full CLIP base (e.g. openai/clip-vit-base-patch32)
//   DIR/models/<model>_<task>/       fine-tuned vision towers (tanganke/<model>_<task>)
//   DIR/data/<task>/                 dataset (HF parquet shards or ImageFolder), test + train splits
import { existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { AmalgamError } from '#common/errors'
import { TA8_TASKS, type Ta8Task } from './templates'
import type { ClipEvalTask } from './evaluate'

export const TA8_MODELS = ['clip-vit-base-patch32', 'clip-vit-base-patch16', 'clip-vit-large-patch14'] as const
export type Ta8Model = (typeof TA8_MODELS)[number]

/**
 * Fine-tuned accuracy of FusionBench's HF checkpoints per task in [0, 1] (methods.md §27.3), the
 * denominators of normalised accuracy. B/16 has no per-task row there, so it has none here.
 */
export const TA8_EXPERT_ACCURACY: Partial<Record<Ta8Model, Record<Ta8Task, number>>> = {
  'clip-vit-base-patch32': { sun397: 0.75, 'stanford-cars': 0.783, resisc45: 0.952, eurosat: 0.99, svhn: 0.973, gtsrb: 0.989, mnist: 0.996, dtd: 0.797 },
  'clip-vit-large-patch14': { sun397: 0.828, 'stanford-cars': 0.929, resisc45: 0.974, eurosat: 0.992, svhn: 0.979, gtsrb: 0.992, mnist: 0.998, dtd: 0.855 },
}

export interface Ta8Layout {
  base: string
  /** expert folders in TA8 order */
  experts: string[]
  tasks: ClipEvalTask[]
  expertAccuracy: Record<string, number> | null
}

/** Resolves (and checks) the TA8 folders under DIR; names every missing folder at once. */
export function ta8Layout(dir: string, model: Ta8Model = 'clip-vit-base-patch32', split = 'test'): Ta8Layout {
  const base = join(dir, 'models', model)
  const experts = TA8_TASKS.map((t) => join(dir, 'models', `${model}_${t}`))
  const data = TA8_TASKS.map((t) => join(dir, 'data', t))
  const missing = [base, ...experts, ...data].filter((p) => !existsSync(p))
  // one line: the CLI prints only an error's first line, and the missing folders are the point
  if (missing.length) throw new AmalgamError('NOT_FOUND', `clip-ta8: missing ${missing.length} folder(s) under ${dir}: ${missing.map((p) => relative(dir, p)).join(', ')} (see docs/clip-ta8.md for what to download and where)`)
  return {
    base, experts,
    tasks: TA8_TASKS.map((t, i) => ({ name: t, dataDir: data[i], split })),
    expertAccuracy: TA8_EXPERT_ACCURACY[model] ?? null,
  }
}
