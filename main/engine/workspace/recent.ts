// The recent-workspaces list: a small JSON file in the app-data folder, most recent first.
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { writeFileAtomic } from '../util/atomic'

const MAX_RECENT = 12

export class RecentWorkspaces {
  readonly file: string
  constructor(appData: string) { this.file = join(appData, 'recent-workspaces.json') }

  async list(): Promise<string[]> {
    try {
      const v = JSON.parse(await readFile(this.file, 'utf8')) as unknown
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
    } catch {
      // A missing or unreadable list is not worth failing over: it is only a convenience.
      return []
    }
  }

  async touch(dir: string): Promise<string[]> {
    const d = resolve(dir)
    const next = [d, ...(await this.list()).filter((x) => x !== d)].slice(0, MAX_RECENT)
    // the app-data folder does not exist on a first run
    await mkdir(dirname(this.file), { recursive: true })
    await writeFileAtomic(this.file, JSON.stringify(next, null, 2) + '\n')
    return next
  }
}
