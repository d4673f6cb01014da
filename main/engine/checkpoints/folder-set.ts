// Per-task methods (EMR-Merging, TALL masks) produce one model per task. They are kept and
// exported as one parent folder holding a Hugging Face folder per task plus a manifest that says
// which folder is which task. The parent is built under a temporary sibling name and renamed into
// place once every task folder is complete, so a cancel or crash never leaves some of the N.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AmalgamError } from '#common/errors'
import { AtomicDir, writeFileAtomic } from '../util/atomic'
import { HfFolderWriter, type HfExportOptions, type HfExportResult } from './export'

export const PER_TASK_MANIFEST = 'amalgam_tasks.json'
export const PER_TASK_FORMAT = 'amalgam-per-task/1'

/** One task's model: the task name as the pool knows it and its folder name under the parent. */
export interface TaskFolder { task: string; dir: string }

export interface PerTaskManifest {
  format: typeof PER_TASK_FORMAT
  method?: string
  /** pool order */
  tasks: TaskFolder[]
}

// Names Windows refuses as file names whatever the extension; a task called "con" must still work.
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i

/**
 * Folder names for task names: safe on every filesystem (letters, digits, `._-`), no leading dot
 * (hidden, or mistaken for a temp dir), unique even on case-insensitive filesystems.
 */
export function taskFolderNames(tasks: readonly string[]): string[] {
  const used = new Set<string>([PER_TASK_MANIFEST.toLowerCase()])
  return tasks.map((t, i) => {
    let s = String(t).normalize('NFKC').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').replace(/[._]+$/, '').slice(0, 80)
    if (!s) s = `task${i + 1}`
    if (WINDOWS_RESERVED.test(s)) s = `_${s}`
    let name = s
    for (let k = 2; used.has(name.toLowerCase()); k++) name = `${s}-${k}`
    used.add(name.toLowerCase())
    return name
  })
}

export function taskFolders(tasks: readonly string[]): TaskFolder[] {
  const dirs = taskFolderNames(tasks)
  return tasks.map((task, i) => ({ task, dir: dirs[i]! }))
}

/** The manifest of a kept per-task model folder, or null when the folder has none (a single model). */
export async function readPerTaskManifest(dir: string): Promise<PerTaskManifest | null> {
  const file = join(dir, PER_TASK_MANIFEST)
  let text: string
  try { text = await readFile(file, 'utf8') } catch { return null }
  let m: PerTaskManifest
  try { m = JSON.parse(text) as PerTaskManifest } catch { throw new AmalgamError('BAD_FILE', `${file}: not valid JSON`) }
  const ok = m && m.format === PER_TASK_FORMAT && Array.isArray(m.tasks)
    && m.tasks.every((t) => t && typeof t.task === 'string' && typeof t.dir === 'string' && /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(t.dir))
  if (!ok) throw new AmalgamError('BAD_FILE', `${file}: not an ${PER_TASK_FORMAT} manifest (format, tasks[{task, dir}])`)
  return m
}

/** Finds a task by its name, or by its folder name; the error lists the valid names. */
export function findTask(tasks: readonly TaskFolder[], name: string, what: string): TaskFolder {
  const t = tasks.find((x) => x.task === name) ?? tasks.find((x) => x.dir === name)
  if (!t) throw new AmalgamError('BAD_PARAM', `${what} has no task "${name}" (tasks: ${tasks.map((x) => x.task).join(', ')})`, { field: 'task' })
  return t
}

export interface FolderSetEntry extends TaskFolder {
  /** the task's HF folder options, less the folder path (it goes under the parent) */
  opts: Omit<HfExportOptions, 'outDir' | 'overwrite'>
}

export interface FolderSetResult { outDir: string; tasks: Array<TaskFolder & HfExportResult> }

/** N HfFolderWriters under one atomic parent folder, committed together. */
export class HfFolderSet {
  readonly outDir: string
  readonly writers: HfFolderWriter[]
  private readonly entries: FolderSetEntry[]
  private readonly manifest: PerTaskManifest

  private constructor(private readonly parent: AtomicDir, entries: FolderSetEntry[], method: string | undefined) {
    this.outDir = parent.target
    this.entries = entries
    this.writers = entries.map((e) => new HfFolderWriter({ ...e.opts, outDir: parent.path(e.dir) }))
    this.manifest = { format: PER_TASK_FORMAT, ...(method ? { method } : {}), tasks: entries.map(({ task, dir }) => ({ task, dir })) }
  }

  /** Creates the temporary parent now; fails early when outDir is occupied (unless overwrite). */
  static async create(outDir: string, entries: FolderSetEntry[], o: { overwrite?: boolean; method?: string } = {}): Promise<HfFolderSet> {
    if (entries.length === 0) throw new AmalgamError('BAD_PARAM', `${outDir}: a per-task folder set needs at least one task`)
    const dirs = new Set<string>()
    for (const e of entries) {
      if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(e.dir) || e.dir === PER_TASK_MANIFEST || dirs.has(e.dir.toLowerCase())) {
        throw new AmalgamError('BAD_PARAM', `${outDir}: task folder name "${e.dir}" (task ${e.task}) is not a unique plain folder name`)
      }
      dirs.add(e.dir.toLowerCase())
    }
    const parent = await AtomicDir.create(outDir, { overwrite: o.overwrite })
    return new HfFolderSet(parent, entries, o.method)
  }

  /** The temporary parent folder while writing (tests look for leftovers by it). */
  get tempDir(): string { return this.parent.tmp }

  /** Commits every task folder inside the temporary parent, writes the manifest, renames the parent into place. */
  async commit(): Promise<FolderSetResult> {
    try {
      const results: Array<TaskFolder & HfExportResult> = []
      for (const [i, w] of this.writers.entries()) {
        const { task, dir } = this.entries[i]!
        results.push({ task, dir, ...(await w.commit()) })
      }
      await writeFileAtomic(this.parent.path(PER_TASK_MANIFEST), `${JSON.stringify(this.manifest, null, 2)}\n`)
      await this.parent.commit()
      // the writers reported paths inside the temporary parent
      return { outDir: this.outDir, tasks: results.map((r) => ({ ...r, outDir: join(this.outDir, r.dir) })) }
    } catch (e) {
      await this.abort()
      throw e
    }
  }

  /** Drops all N folders; the parent never appears. Safe to call more than once. */
  async abort(): Promise<void> {
    for (const w of this.writers) await w.abort().catch(() => undefined)
    await this.parent.abort()
  }
}
