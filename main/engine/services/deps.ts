// What the services need from the other engine modules, as one injectable object. The defaults
// import the real modules lazily (opening a workspace must not load TF.js); tests replace single
// entries with fakes.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { BenchRow, MethodInfo, PoolCheck } from '#common/types'
import type { TensorSource } from '../tensors/source'
import type { TaskCtx } from '../util/task'
import type { TaskRef } from '../jobs/child'
// model-card.ts only needs yaml: cheap enough to load eagerly.
import { renderModelCard, type ModelCardInput } from '../checkpoints/model-card'

export interface OpenedModel extends TensorSource { readonly files: string[]; readonly config?: Record<string, unknown>; close?(): Promise<void> }
export interface BenchmarkPool { name: string; tasks: string[]; base: string; models: string[] }

export interface ServiceDeps {
  listMethods(): MethodInfo[] | Promise<MethodInfo[]>
  checkPool(base: string, models: string[], opts: { scanNonFinite?: boolean; method?: string }, ctx?: TaskCtx): Promise<PoolCheck>
  openModel(path: string): Promise<OpenedModel>
  loadBenchmark(name: string): Promise<BenchmarkPool>
  referenceRows(benchmark: string): Promise<BenchRow[]>
  hashFile(path: string, signal?: AbortSignal): Promise<string>
  renderModelCard(input: ModelCardInput): string
}

export const defaultDeps: ServiceDeps = {
  async listMethods() { return (await import('../merge/registry')).listMethods() },
  async checkPool(base, models, opts, ctx) { return (await import('../checkpoints/pool-check')).checkPool(base, models, opts, ctx) },
  async openModel(path) { return (await import('../checkpoints/open')).openModel(path) },
  async loadBenchmark(name) {
    if (name !== 'mini8') throw new Error(`unknown benchmark ${name}`)
    const b = await (await import('../benchmark/mini8')).loadMini8()
    return { name: 'mini8', tasks: [...b.tasks], base: b.pretrainedDir, models: b.tasks.map((t) => b.expertDirs[t]!) }
  },
  async referenceRows(name) {
    if (name !== 'mini8') return []
    return (await import('../benchmark/reference')).referenceRows()
  },
  async hashFile(path, signal) { return (await import('../util/hash')).sha256File(path, signal) },
  renderModelCard: (input) => renderModelCard(input),
}

// Source tree (tsx, vitest): the .ts module; a bundle that emits the tasks as separate entries: .js.
const here = (p: string): string => {
  const ts = fileURLToPath(new URL(p, import.meta.url))
  return existsSync(ts) ? ts : ts.replace(/\.ts$/, '.js')
}

/** Task modules run by the job runner (in a child process by default). */
export interface TaskRefs { experiment: TaskRef; export: TaskRef; evaluator: TaskRef }

export function defaultTaskRefs(): TaskRefs {
  return {
    experiment: { module: here('./tasks/experiment.ts'), export: 'runExperimentTask' },
    export: { module: here('./tasks/export.ts'), export: 'runExportTask' },
    evaluator: { module: here('./tasks/evaluator.ts'), export: 'evaluateOnBenchmark' },
  }
}
