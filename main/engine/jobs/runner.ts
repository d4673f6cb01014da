// One way to call a task whether it runs in a child process (default: killable, crash-isolated)
// or inline (the engine's own process: no spawn cost, used for light jobs and tests with fakes).
import type { ChildProcess } from 'node:child_process'
import type { TaskCtx } from '../util/task'
import { moduleUrl, runInChild, type TaskRef } from './child'
import type { TaskFn } from './protocol'

export type RunnerKind = 'child' | 'inline'

export interface TaskRunner {
  readonly kind: RunnerKind
  run<T>(task: TaskRef, input: unknown, ctx: TaskCtx): Promise<T>
}

export function createTaskRunner(kind: RunnerKind, opts: { killGraceMs?: number; env?: NodeJS.ProcessEnv; onSpawn?(c: ChildProcess): void } = {}): TaskRunner {
  if (kind === 'child') {
    return { kind, run: <T>(task: TaskRef, input: unknown, ctx: TaskCtx) => runInChild<T>({ task, input, ctx, ...opts }) }
  }
  return {
    kind,
    async run<T>(task: TaskRef, input: unknown, ctx: TaskCtx): Promise<T> {
      const mod = (await import(moduleUrl(task.module))) as Record<string, unknown>
      const fn = mod[task.export]
      if (typeof fn !== 'function') throw new Error(`${task.module} has no task function ${task.export}`)
      // structuredClone keeps inline runs honest: the task gets the same plain data a child would.
      return (await (fn as TaskFn)(structuredClone(input), ctx)) as T
    },
  }
}

export type { TaskRef }
