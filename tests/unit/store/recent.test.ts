import { describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RecentWorkspaces } from '../../../main/engine/workspace/recent'

describe('recent workspaces', () => {
  it('creates the app-data folder on first use and keeps the newest first without duplicates', async () => {
    const root = await mkdtemp(join(tmpdir(), 'amalgam-recent-'))
    try {
      const r = new RecentWorkspaces(join(root, 'not', 'yet', 'there'))
      expect(await r.list()).toEqual([])
      await r.touch('/a')
      await r.touch('/b')
      await r.touch('/a')
      expect(await r.list()).toEqual(['/a', '/b'])
    } finally { await rm(root, { recursive: true, force: true }) }
  })
})
