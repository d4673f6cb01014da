// Cooperative cancellation and progress for long engine work (merges, evaluation, export).
import { CancelledError } from '#common/errors'

export interface TaskCtx {
  signal?: AbortSignal
  /** stage name, fraction of that stage in [0,1], optional human message */
  progress?(stage: string, fraction: number, message?: string): void
  log?(line: string): void
}

export function throwIfCancelled(ctx: TaskCtx | undefined, what = 'job'): void {
  if (ctx?.signal?.aborted) throw new CancelledError(what)
}

/** Yield to the event loop so cancel messages and progress can be delivered between heavy steps. */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r))
