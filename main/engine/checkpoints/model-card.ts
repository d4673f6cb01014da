// README.md model card for an exported merge: Hub front matter (formats.md §6.3) then a human
// description of the method, its parameters, the inputs and the evaluation results.
import { existsSync } from 'node:fs'
import { stringify } from 'yaml'

export interface ModelRef {
  /** local path or Hub id as the user gave it */
  path: string
  /** Hub repo id when known ("org/name"); local-only models are left out of `base_model` */
  hubId?: string
  sha256?: string
}

export interface EvalDataset { name: string; type: string }

export interface ModelCardInput {
  /** heading and model-index name; default: the output folder name */
  name?: string
  method: string
  methodTitle?: string
  params?: Record<string, unknown>
  seed?: number
  base: ModelRef
  models: ModelRef[]
  eval?: {
    benchmark?: string
    /** task → accuracy in [0, 1] */
    accuracy: Record<string, number>
    average?: number
    normalized?: number
    /** task → Hub dataset; tasks without an entry use the task name for both fields */
    datasets?: Record<string, EvalDataset>
  }
  engineVersion?: string
  note?: string
  /** per-task methods (EMR, TALL masks) write one model per task: the task this folder is for */
  task?: string
}

/** A Hub id is "org/name" that is not a folder on this machine (mergekit drops local paths the same way). */
export function hubIdOf(ref: ModelRef): string | undefined {
  if (ref.hubId) return ref.hubId
  const p = ref.path
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(p) || p.startsWith('.')) return undefined
  return existsSync(p) ? undefined : p
}

const fmtValue = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v))
const pct = (x: number): string => `${(x * 100).toFixed(2)}`
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function renderModelCard(input: ModelCardInput, fallbackName = 'merged-model'): string {
  const name = input.name ?? fallbackName
  const refs = [input.base, ...input.models]
  const hubIds = [...new Set(refs.map(hubIdOf).filter((x): x is string => !!x))]
  const front: Record<string, unknown> = {}
  if (hubIds.length) {
    front.base_model = hubIds
    // the Hub draws the model tree from base_model; the relation is meaningless without it
    front.base_model_relation = 'merge'
  }
  front.library_name = 'transformers'
  front.tags = [...new Set(['merge', 'amalgam', input.method])]
  if (input.eval && Object.keys(input.eval.accuracy).length) {
    front['model-index'] = [{
      name,
      results: Object.entries(input.eval.accuracy).map(([task, acc]) => {
        const ds = input.eval!.datasets?.[task] ?? { name: task, type: task }
        return { task: { type: 'image-classification' }, dataset: { name: ds.name, type: ds.type }, metrics: [{ type: 'accuracy', value: acc }] }
      }),
    }]
  }
  const lines: string[] = ['---', stringify(front).trimEnd(), '---', '', `# ${name}`, '']
  const title = input.methodTitle ?? input.method
  lines.push(`This model is a merge of ${input.models.length} fine-tuned model${input.models.length === 1 ? '' : 's'} into the pretrained model \`${input.base.hubId ?? input.base.path}\`, made with Amalgam using **${title}** (\`${input.method}\`).`, '')
  if (input.task !== undefined) {
    lines.push(`This is the model for task **${input.task}**: \`${input.method}\` writes one model per task, each meant to be used only on its own task.`, '')
  }
  if (input.note) lines.push(input.note, '')

  lines.push('## Method', '', `- method: \`${input.method}\``)
  if (input.task !== undefined) lines.push(`- task: ${input.task}`)
  if (input.seed !== undefined) lines.push(`- seed: ${input.seed}`)
  if (input.engineVersion) lines.push(`- engine: Amalgam ${input.engineVersion}`)
  lines.push('')
  const params = Object.entries(input.params ?? {})
  if (params.length) {
    lines.push('| parameter | value |', '|---|---|', ...params.map(([k, v]) => `| ${cell(k)} | ${cell(fmtValue(v))} |`), '')
  }

  lines.push('## Input models', '', '| role | model | sha256 |', '|---|---|---|')
  lines.push(`| pretrained (base) | ${cell(input.base.hubId ?? input.base.path)} | ${input.base.sha256 ?? '–'} |`)
  for (const m of input.models) lines.push(`| fine-tuned | ${cell(m.hubId ?? m.path)} | ${m.sha256 ?? '–'} |`)
  lines.push('')

  if (input.eval && Object.keys(input.eval.accuracy).length) {
    const e = input.eval
    lines.push('## Evaluation', '')
    if (e.benchmark) lines.push(`Benchmark: ${e.benchmark}. Top-1 accuracy (%).`, '')
    lines.push('| task | accuracy |', '|---|---|', ...Object.entries(e.accuracy).map(([t, a]) => `| ${cell(t)} | ${pct(a)} |`))
    if (e.average !== undefined) lines.push(`| **average** | **${pct(e.average)}** |`)
    if (e.normalized !== undefined) lines.push(`| normalized average | ${pct(e.normalized)} |`)
    lines.push('')
  }
  lines.push('## Reproduce', '', 'The full recipe is in `amalgam_recipe.yaml` in this folder.', '')
  return lines.join('\n')
}
