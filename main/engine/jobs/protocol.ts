// Messages between the engine host and a job's child process.
import type { WireError } from '#common/errors'

export type ParentMessage =
  | { t: 'run'; module: string; export: string; input: unknown }
  | { t: 'cancel' }

export type ChildMessage =
  | { t: 'progress'; stage: string; fraction: number; message?: string }
  | { t: 'log'; line: string }
  | { t: 'result'; value: unknown }
  | { t: 'error'; error: WireError }

/** A task function that can run in a child process or inline: plain-data input and output. */
export type TaskFn<I = unknown, O = unknown> = (input: I, ctx: import('../util/task').TaskCtx) => Promise<O>
