// Atomic file and folder writes: write under a temporary sibling name, fsync, rename into place,
// fsync the parent folder. A crash or cancel at any point leaves either the old state or the new
// one, plus at worst a `*.tmp-<pid>-<rand>` sibling that `sweepStaleTemps` removes later.
import { open, rename, rm, mkdir, readdir, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'
import { AmalgamError } from '#common/errors'

/** `<path>.tmp-<pid>-<rand>`: the pid lets a sweeper tell a live writer's temp from a dead one's. */
export function tempSibling(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** fsync a folder so a rename inside it is durable (a no-op where folders cannot be opened). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh
  try { fh = await open(dir, 'r') } catch { return }
  try { await fh.sync() } catch { /* some filesystems refuse fsync on folders */ } finally { await fh.close() }
}

/** Write a whole file atomically: tmp + fsync + rename + fsync(dir). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempSibling(path)
  const fh = await open(tmp, 'wx')
  try {
    await fh.writeFile(data)
    await fh.sync()
    await fh.close()
  } catch (e) {
    await fh.close().catch(() => undefined)
    await rm(tmp, { force: true })
    throw ioError(path, 'write', e)
  }
  try {
    await rename(tmp, path)
  } catch (e) {
    await rm(tmp, { force: true })
    throw ioError(path, 'rename into place', e)
  }
  await fsyncDir(dirname(path))
}

export interface AtomicDirOptions {
  /** replace an existing non-empty folder at the target (it is moved aside, then removed) */
  overwrite?: boolean
}

/**
 * A folder built under a temporary sibling name and renamed into place on commit. Until commit
 * the target path is untouched; abort (or a crash) leaves no folder at the target.
 */
export class AtomicDir {
  readonly target: string
  readonly tmp: string
  private readonly overwrite: boolean
  private state: 'open' | 'committed' | 'aborted' = 'open'

  private constructor(target: string, tmp: string, overwrite: boolean) { this.target = target; this.tmp = tmp; this.overwrite = overwrite }

  /** Create the temporary folder. Fails early if the target exists and is non-empty (unless overwrite). */
  static async create(target: string, opts: AtomicDirOptions = {}): Promise<AtomicDir> {
    if (!opts.overwrite && (await nonEmptyDir(target))) throw refuseOverwrite(target)
    await mkdir(dirname(target), { recursive: true })
    await sweepStaleTemps(target) // leftovers of a writer that was killed mid-way
    const tmp = tempSibling(target)
    await mkdir(tmp)
    return new AtomicDir(target, tmp, opts.overwrite === true)
  }

  /** Path of a file inside the temporary folder. */
  path(name: string): string { return join(this.tmp, name) }

  get isOpen(): boolean { return this.state === 'open' }

  /** fsync the temporary folder, then rename it to the target (fsyncing the parent). */
  async commit(): Promise<void> {
    if (this.state !== 'open') throw new AmalgamError('INTERNAL', `${this.target}: folder already ${this.state}`)
    await fsyncDir(this.tmp)
    const exists = await pathExists(this.target)
    let aside: string | null = null
    if (exists) {
      if (await nonEmptyDir(this.target)) {
        if (!this.overwrite) { await this.abort(); throw refuseOverwrite(this.target) }
        aside = `${this.target}.old-${process.pid}-${randomBytes(4).toString('hex')}`
        await rename(this.target, aside)
      } else {
        // an empty folder (or a file the user chose as the target) is replaced only when empty
        const s = await stat(this.target)
        if (!s.isDirectory()) { await this.abort(); throw new AmalgamError('IO', `${this.target}: exists and is not a folder`) }
        await rm(this.target, { recursive: true, force: true })
      }
    }
    try {
      await rename(this.tmp, this.target)
    } catch (e) {
      if (aside) await rename(aside, this.target).catch(() => undefined)
      await this.abort()
      throw ioError(this.target, 'rename into place', e)
    }
    this.state = 'committed'
    await fsyncDir(dirname(this.target))
    if (aside) await rm(aside, { recursive: true, force: true })
  }

  /** Remove the temporary folder; safe to call more than once and after a failed commit. */
  async abort(): Promise<void> {
    if (this.state === 'committed') return
    this.state = 'aborted'
    await rm(this.tmp, { recursive: true, force: true })
  }
}

/**
 * Remove `<target>.tmp-<pid>-*` siblings left by processes that no longer run (a `kill -9` in the
 * middle of an export). Returns the removed paths.
 */
export async function sweepStaleTemps(target: string): Promise<string[]> {
  const dir = dirname(target)
  const prefix = `${basename(target)}.tmp-`
  let entries: string[]
  try { entries = await readdir(dir) } catch { return [] }
  const removed: string[] = []
  for (const name of entries) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(name.slice(prefix.length).split('-')[0])
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue
    const p = join(dir, name)
    await rm(p, { recursive: true, force: true })
    removed.push(p)
  }
  return removed
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

async function pathExists(p: string): Promise<boolean> {
  try { await stat(p); return true } catch { return false }
}

async function nonEmptyDir(p: string): Promise<boolean> {
  try {
    const s = await stat(p)
    if (!s.isDirectory()) return true // a file in the way counts as occupied
    return (await readdir(p)).length > 0
  } catch { return false }
}

const refuseOverwrite = (target: string): AmalgamError =>
  new AmalgamError('IO', `${target}: folder exists and is not empty; choose another output folder or allow overwrite`)

function ioError(path: string, what: string, e: unknown): AmalgamError {
  if (e instanceof AmalgamError) return e
  const code = (e as NodeJS.ErrnoException).code
  return new AmalgamError('IO', `${path}: cannot ${what} (${code ?? (e as Error).message})`)
}
