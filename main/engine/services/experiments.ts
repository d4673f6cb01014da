// experiments.*: the history (list/get/update), compare tables, model-card preview and export.
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import type { In, Out } from '#common/contract'
import type { ExperimentRecord } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { ModelCardInput } from '../checkpoints/model-card'
import { findTask, readPerTaskManifest, taskFolders, type TaskFolder } from '../checkpoints/folder-set'
import { parseRecipe, type Recipe } from '../recipe'
import { removePartialSiblings } from '../workspace/workspace'
import type { JobOutcome } from '../jobs/queue'
import { buildCompareTable } from './compare'
import { poolTaskNames } from './pools'
import type { ServiceState } from './state'
import type { ExportTaskInput, ExportTaskOutput, PerTaskExport } from './tasks/export'

const LOG_TAIL_BYTES = 1 << 20

export async function getExperiment(s: ServiceState, p: In<'experiments.get'>): Promise<Out<'experiments.get'>> {
  const ws = s.workspace()
  const rec = ws.experiments.get(p.id)
  const run = ws.run(p.id)
  const diagnostics = await readFile(run.diagnostics, 'utf8').then((t) => JSON.parse(t) as unknown, () => undefined)
  let log: string | undefined
  if (existsSync(run.log)) {
    const { size } = await stat(run.log)
    const text = await readFile(run.log, 'utf8')
    log = size > LOG_TAIL_BYTES ? `… (${size - LOG_TAIL_BYTES} bytes omitted)\n${text.slice(-LOG_TAIL_BYTES)}` : text
  }
  return { ...rec, recipe: ws.experiments.recipe(p.id), diagnostics, log }
}

export async function updateExperiment(s: ServiceState, p: In<'experiments.update'>): Promise<ExperimentRecord> {
  const ws = s.workspace()
  if (p.name !== undefined && (typeof p.name !== 'string' || !p.name.trim())) throw new AmalgamError('BAD_PARAM', 'name must be a non-empty string', { field: 'name' })
  if (p.tags !== undefined && (!Array.isArray(p.tags) || p.tags.some((t) => typeof t !== 'string'))) throw new AmalgamError('BAD_PARAM', 'tags must be a list of strings', { field: 'tags' })
  if (p.note !== undefined && typeof p.note !== 'string') throw new AmalgamError('BAD_PARAM', 'note must be a string', { field: 'note' })
  if (p.starred !== undefined && typeof p.starred !== 'boolean') throw new AmalgamError('BAD_PARAM', 'starred must be true or false', { field: 'starred' })
  return ws.experiments.update(p.id, { name: p.name?.trim(), note: p.note, starred: p.starred }, p.tags)
}

export async function compareExperiments(s: ServiceState, p: In<'experiments.compare'>): Promise<Out<'experiments.compare'>> {
  const ws = s.workspace()
  if (!Array.isArray(p?.ids) || p.ids.length === 0) throw new AmalgamError('BAD_PARAM', 'compare needs at least one experiment id', { field: 'ids' })
  const records = p.ids.map((id) => ws.experiments.get(id))
  let reference
  const benchmark = records[0]!.benchmark
  if (p.reference && benchmark && records.every((r) => r.benchmark === benchmark)) {
    // The reference rows come from the benchmark build; without it the table simply has none.
    reference = await s.deps.referenceRows(benchmark).catch(() => undefined)
  }
  // Column order: the evaluation's task order as stored with the first row's metrics.
  return buildCompareTable(records, [], reference)
}

export function cardInput(rec: ExperimentRecord, recipe: Recipe | null): ModelCardInput {
  const sha = (m: Recipe['pool']['base']) => (m.files.length === 1 ? m.files[0]!.sha256 : m.files.map((f) => `${f.file}:${f.sha256}`).join(' '))
  const card: ModelCardInput = {
    name: rec.name, method: rec.method, params: rec.params, seed: rec.seed, engineVersion: rec.engineVersion, note: rec.note || undefined,
    base: recipe ? { path: recipe.pool.base.path, sha256: sha(recipe.pool.base) } : { path: '(unknown)' },
    models: recipe ? recipe.pool.models.map((m) => ({ path: m.path, sha256: sha(m) })) : [],
  }
  if (rec.metrics && Object.keys(rec.metrics).length) {
    card.eval = { benchmark: rec.benchmark ?? undefined, accuracy: rec.metrics, average: rec.average ?? undefined, normalized: rec.normalized ?? undefined }
  }
  return card
}

function recipeOf(s: ServiceState, id: string): Recipe | null {
  const yaml = s.workspace().experiments.recipe(id)
  return yaml ? parseRecipe(yaml, `experiment ${id} recipe`) : null
}

export async function cardPreview(s: ServiceState, p: In<'experiments.cardPreview'>): Promise<Out<'experiments.cardPreview'>> {
  const ws = s.workspace()
  const rec = ws.experiments.get(p.id)
  const recipe = recipeOf(s, p.id)
  if (p.task === undefined) return { markdown: s.deps.renderModelCard(cardInput(rec, recipe)) }
  // the card one task's model gets on export
  const spec = await perTaskExport(s, rec, recipe, poolTaskNames(ws.pools.get(rec.poolId)), p.task)
  return { markdown: s.deps.renderModelCard(spec!.tasks[0]!.card) }
}

/** The card of one task's model of a per-task experiment: that task, and its own accuracy only. */
function taskCard(rec: ExperimentRecord, base: ModelCardInput, task: string): ModelCardInput {
  const acc = base.eval?.accuracy[task]
  // each task model was evaluated on its own task only: its card shows that one number
  return { ...base, name: `${rec.name} · ${task}`, task, eval: base.eval && acc !== undefined ? { benchmark: base.eval.benchmark, accuracy: { [task]: acc } } : undefined }
}

export async function exportExperiment(s: ServiceState, p: In<'experiments.export'>): Promise<Out<'experiments.export'>> {
  const ws = s.workspace()
  const rec = ws.experiments.get(p.id)
  if (rec.status !== 'done') throw new AmalgamError('BAD_REQUEST', `experiment ${p.id} is ${rec.status}; only finished experiments can be exported`)
  if (typeof p.out !== 'string' || !p.out.trim()) throw new AmalgamError('BAD_PARAM', 'out must be a folder path', { field: 'out' })
  const dtype = p.dtype ?? 'f32'
  if (!['f32', 'bf16', 'f16'].includes(dtype)) throw new AmalgamError('BAD_PARAM', `dtype must be f32, bf16 or f16, got ${String(dtype)}`, { field: 'dtype' })
  if (p.shardBytes !== undefined && !(Number.isFinite(p.shardBytes) && p.shardBytes > 0)) throw new AmalgamError('BAD_PARAM', 'shardBytes must be a positive number', { field: 'shardBytes' })
  const out = isAbsolute(p.out) ? p.out : resolve(p.out)
  const recipe = recipeOf(s, p.id)
  if (!recipe) throw new AmalgamError('BAD_REQUEST', `experiment ${p.id} has no recipe; it cannot be exported`)
  const pool = ws.pools.get(rec.poolId)
  const run = ws.run(p.id)
  const report = await readFile(run.eval, 'utf8').catch(() => null)
  const perTask = await perTaskExport(s, rec, recipe, poolTaskNames(pool), p.task)
  const input: ExportTaskInput = {
    out, dtype, shardBytes: p.shardBytes, recipeYaml: ws.experiments.recipe(p.id),
    card: cardInput(rec, recipe),
    extraFiles: report ? { 'report.json': report } : {},
    metadata: { merge_recipe: JSON.stringify({ method: rec.method, params: rec.params, seed: rec.seed, engine_version: rec.engineVersion }) },
    modelDir: rec.artifactDir && existsSync(rec.artifactDir) ? rec.artifactDir : null,
    merge: { method: rec.method, params: rec.params, seed: rec.seed, base: pool.base, models: pool.models, names: poolTaskNames(pool) },
    ...(perTask ? { perTask, modelDir: null } : {}),
  }
  const jobId = `export-${p.id}-${Date.now().toString(36)}`
  ws.jobs.insert(jobId, 'export', p.id, out)
  s.queue.enqueue<ExportTaskOutput>({
    kind: 'export',
    experimentId: p.id,
    run: async (ctx) => {
      ws.jobs.setStatus(jobId, 'running')
      const what = perTask ? (perTask.mode === 'one' ? `task ${perTask.tasks[0]!.task} of ` : `${perTask.tasks.length} task models of `) : ''
      const remerge = perTask ? perTask.tasks.some((t) => !t.modelDir) : !input.modelDir
      ctx.log?.(`exporting ${what}${p.id} to ${out} (${dtype}${remerge ? ', re-merging from the recipe' : ''})`)
      return s.runner.run<ExportTaskOutput>(s.tasks.export, input, ctx)
    },
    finish: (o: JobOutcome<ExportTaskOutput>) => {
      if (o.status !== 'done') removePartialSiblings(out)
      ws.jobs.setStatus(jobId, o.status, o.error?.message ?? null)
    },
  }, jobId)
  return { jobId }
}

/**
 * What a per-task experiment exports: every task model (out/<task>/) or, with `task`, that one (out/).
 * Null for single-model experiments, where `task` is refused.
 */
async function perTaskExport(s: ServiceState, rec: ExperimentRecord, recipe: Recipe | null, poolNames: string[], task: string | undefined): Promise<ExportTaskInput['perTask'] | null> {
  const methods = await s.deps.listMethods()
  const perTask = !!rec.keptTasks?.length || methods.find((m) => m.name === rec.method)?.perTask === true
  if (!perTask) {
    if (task === undefined) return null
    const names = methods.filter((m) => m.perTask).map((m) => m.name).join(', ')
    throw new AmalgamError('BAD_PARAM', `experiment ${rec.id} (${rec.method}) has one merged model; a task can only be chosen for per-task methods (${names})`, { field: 'task' })
  }
  // the kept folder's manifest is the truth about folder names; without a kept model, the names it would have had
  const manifest = rec.keptTasks?.length && rec.artifactDir && existsSync(rec.artifactDir) ? await readPerTaskManifest(rec.artifactDir) : null
  const folders: TaskFolder[] = manifest?.tasks ?? taskFolders(poolNames)
  const chosen = task === undefined ? folders : [findTask(folders, task, `experiment ${rec.id}`)]
  const base = cardInput(rec, recipe)
  const tasks: PerTaskExport[] = chosen.map((t) => {
    const index = folders.indexOf(t)
    const kept = manifest ? join(rec.artifactDir!, t.dir) : null
    return { task: t.task, dir: t.dir, index, modelDir: kept && existsSync(kept) ? kept : null, card: taskCard(rec, base, t.task) }
  })
  return { mode: task === undefined ? 'all' : 'one', tasks }
}
