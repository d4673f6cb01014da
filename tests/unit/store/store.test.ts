import { afterEach, describe, expect, it } from 'vitest'
import { mkdirSync, existsSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { createRequire } from 'node:module'
import { openDb, schemaVersion, integrityCheck } from '../../../main/engine/store/db'
import { MIGRATIONS, SCHEMA_VERSION } from '../../../main/engine/store/migrations'
import { ExperimentStore, type NewExperiment } from '../../../main/engine/store/experiments'
import { PoolStore } from '../../../main/engine/store/pools'
import { FileHashCache } from '../../../main/engine/store/file-hashes'
import { openWorkspace, INTERRUPTED_REASON } from '../../../main/engine/workspace/workspace'
import { appDataDir, defaultWorkspaceDir } from '../../../main/engine/workspace/paths'
import { makeTempDir } from '../../fixtures/make-tiny-checkpoints'

let dirs: string[] = []
afterEach(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); dirs = [] })
async function tmp(): Promise<string> { const d = await makeTempDir('amalgam-store-'); dirs.push(d); return d }

function exp(id: string, over: Partial<NewExperiment> = {}): NewExperiment {
  return { id, name: `run ${id}`, method: 'task_arithmetic', params: { scaling_factor: 0.3 }, seed: 0, poolId: 'p1', benchmark: 'mini8', engineVersion: '0.1.0', backend: 'wasm', recipeYaml: 'format: 1\n', ...over }
}

describe('schema and migrations', () => {
  it('creates the current schema with WAL and foreign keys', async () => {
    const db = openDb(join(await tmp(), 'a.db'))
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(() => new ExperimentStore(db).insert(exp('x', { poolId: 'no-such-pool' }))).toThrow(/FOREIGN KEY/)
    expect(integrityCheck(db)).toBe('ok')
    db.close()
  })

  it('migrates a version-1 database with data to the current schema', async () => {
    const file = join(await tmp(), 'old.db')
    const old = openDb(file, { migrateTo: 1 })
    expect(schemaVersion(old)).toBe(1)
    old.prepare(`INSERT INTO pools (id, name, base, models_json, created_at) VALUES ('p1', 'old pool', '/b', '["/m1"]', '2025-01-01T00:00:00Z')`).run()
    old.prepare(`INSERT INTO experiments (id, name, method, params_json, seed, pool_id, status, created_at, engine_version, backend, recipe_yaml, average)
      VALUES ('e1', 'old run', 'ties_merging', '{"threshold":20}', 3, 'p1', 'done', '2025-01-01T00:00:00Z', '0.0.9', 'cpu', 'x', 0.7)`).run()
    // version 1 had no tags or stars
    expect(() => old.prepare('SELECT starred FROM experiments').all()).toThrow(/no such column/)
    old.close()
    const db = openDb(file)
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION)
    const store = new ExperimentStore(db)
    const e = store.get('e1')
    expect(e).toMatchObject({ name: 'old run', method: 'ties_merging', params: { threshold: 20 }, seed: 3, starred: false, note: '', tags: [], average: 0.7 })
    store.update('e1', { starred: true }, ['migrated'])
    expect(store.list({ tag: 'migrated' }).rows.map((r) => r.id)).toEqual(['e1'])
    expect(new PoolStore(db).get('p1').models).toEqual(['/m1'])
    expect(integrityCheck(db)).toBe('ok')
    db.close()
  })

  it('refuses a database from a newer Amalgam, and a failed migration leaves the old version', async () => {
    const d = await tmp()
    const file = join(d, 'new.db')
    const raw = new Database(file)
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    raw.close()
    expect(() => openDb(file)).toThrow(/newer than this Amalgam supports/)

    const file2 = join(d, 'bad.db')
    openDb(file2, { migrateTo: 1 }).close()
    const broken = [...MIGRATIONS.slice(0, 1), { version: 2, description: 'broken', sql: 'ALTER TABLE experiments ADD COLUMN note TEXT; CREATE TABLE oops (' }]
    expect(() => openDb(file2, { migrations: broken })).toThrow(/migration to schema version 2 \(broken\) failed/)
    const again = openDb(file2, { migrateTo: 1 })
    expect(schemaVersion(again)).toBe(1)
    expect(() => again.prepare('SELECT note FROM experiments').all()).toThrow(/no such column/)
    again.close()
  })
})

describe('experiment history', () => {
  function seeded() {
    return tmp().then((d) => {
      const db = openDb(join(d, 'h.db'))
      new PoolStore(db).insert({ id: 'p1', name: 'pool', base: '/b', models: ['/m1', '/m2'] })
      const s = new ExperimentStore(db)
      s.insert(exp('a', { method: 'task_arithmetic', createdAt: '2026-01-01T00:00:00Z', name: 'TA small' }))
      s.insert(exp('b', { method: 'ties_merging', createdAt: '2026-01-02T00:00:00Z', name: 'TIES 50%_keep', tags: ['paper'] }))
      s.insert(exp('c', { method: 'ties_merging', createdAt: '2026-01-03T00:00:00Z', name: 'TIES big' }))
      s.update('a', { status: 'done', metrics: { mnist: 0.9, svhn: 0.5 }, average: 0.7 })
      s.update('b', { status: 'done', metrics: { mnist: 0.8, svhn: 0.7 }, average: 0.75, note: 'best so far' })
      s.update('c', { status: 'failed', error: 'boom' })
      return { db, s }
    })
  }

  it('filters, sorts (nulls last), searches, pages', async () => {
    const { db, s } = await seeded()
    expect(s.list().rows.map((r) => r.id)).toEqual(['c', 'b', 'a'])
    expect(s.list({ method: 'ties_merging' }).total).toBe(2)
    expect(s.list({ status: 'done', sort: 'average' }).rows.map((r) => r.id)).toEqual(['a', 'b'])
    expect(s.list({ sort: 'average', desc: true }).rows.map((r) => r.id)).toEqual(['b', 'a', 'c'])
    expect(s.list({ sort: 'average' }).rows.map((r) => r.id)).toEqual(['a', 'b', 'c'])
    expect(s.list({ sort: 'metric:mnist', desc: true }).rows.map((r) => r.id)).toEqual(['a', 'b', 'c'])
    expect(s.list({ search: 'best' }).rows.map((r) => r.id)).toEqual(['b'])
    expect(s.list({ search: 'paper' }).rows.map((r) => r.id)).toEqual(['b'])
    expect(s.list({ search: 'ties big' }).rows.map((r) => r.id)).toEqual(['c'])
    // LIKE wildcards in the search text are literal
    expect(s.list({ search: '50%_keep' }).rows.map((r) => r.id)).toEqual(['b'])
    expect(s.list({ search: '%' }).rows.map((r) => r.id)).toEqual(['b'])
    const page = s.list({ sort: 'createdAt', desc: false, limit: 2, offset: 1 })
    expect(page).toMatchObject({ total: 3 })
    expect(page.rows.map((r) => r.id)).toEqual(['b', 'c'])
    expect(() => s.list({ sort: 'bogus' })).toThrow(/sort key bogus/)
    expect(() => s.list({ limit: -1 })).toThrow(/limit/)
    expect(() => s.get('zzz')).toThrow(/no experiment with id zzz/)
    db.close()
  })

  it('readers are not blocked while a writer holds a transaction (WAL), and see only committed rows', async () => {
    const d = await tmp()
    const file = join(d, 'wal.db')
    const writer = openDb(file)
    new PoolStore(writer).insert({ id: 'p1', name: 'pool', base: '/b', models: ['/m'] })
    const reader = openDb(file, { readonly: true })
    const rs = new ExperimentStore(reader)
    const ws = new ExperimentStore(writer)
    writer.exec('BEGIN IMMEDIATE')
    for (let i = 0; i < 500; i++) ws.insert(exp(`w${i}`))
    const t0 = performance.now()
    expect(rs.list().total).toBe(0)
    expect(performance.now() - t0).toBeLessThan(1000)
    writer.exec('COMMIT')
    expect(rs.list().total).toBe(500)
    reader.close(); writer.close()
  })

  it('readers in this process keep working while another thread writes continuously', async () => {
    const d = await tmp()
    const file = join(d, 'wal2.db')
    const db = openDb(file)
    new PoolStore(db).insert({ id: 'p1', name: 'pool', base: '/b', models: ['/m'] })
    db.close()
    const src = `
      const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
      const { workerData, parentPort } = require('node:worker_threads');
      const db = new Database(workerData.file); db.pragma('busy_timeout = 5000'); db.pragma('journal_mode = WAL');
      const ins = db.prepare("INSERT INTO experiments (id, name, method, params_json, seed, pool_id, status, created_at, engine_version, backend, recipe_yaml) VALUES (?, 'n', 'm', '{}', 0, 'p1', 'running', '2026-01-01', 'v', 'b', '')");
      const upd = db.prepare("UPDATE experiments SET status = 'done', average = ? WHERE id = ?");
      for (let i = 0; i < 300; i++) { db.transaction(() => { ins.run('x' + i); upd.run(i / 300, 'x' + i); })(); }
      db.close(); parentPort.postMessage('done');`
    const w = new Worker(src, { eval: true, workerData: { file } })
    const finished = new Promise((r) => w.once('message', r))
    const reader = openDb(file, { readonly: true })
    const s = new ExperimentStore(reader)
    let reads = 0
    let last = 0
    let done = false
    void finished.then(() => { done = true })
    while (!done) {
      const n = s.list({ status: 'done' }).total
      expect(n).toBeGreaterThanOrEqual(last) // monotone: never a torn or rolled-back view
      last = n
      reads++
      await new Promise((r) => setImmediate(r))
    }
    expect(s.list({ status: 'done' }).total).toBe(300)
    expect(reads).toBeGreaterThan(1)
    expect(integrityCheck(reader)).toBe('ok')
    reader.close()
  })
})

describe('workspace', () => {
  it('default locations follow the OS and the env overrides', () => {
    expect(appDataDir({ env: {}, platform: 'linux', home: '/home/u' })).toBe('/home/u/.local/share/amalgam')
    expect(appDataDir({ env: { XDG_DATA_HOME: '/data' }, platform: 'linux', home: '/home/u' })).toBe('/data/amalgam')
    expect(appDataDir({ env: {}, platform: 'darwin', home: '/Users/u' })).toBe('/Users/u/Library/Application Support/Amalgam')
    expect(appDataDir({ env: { APPDATA: 'C:/Users/u/AppData/Roaming' }, platform: 'win32', home: 'C:/Users/u' })).toMatch(/Roaming[\\/]Amalgam$/)
    expect(defaultWorkspaceDir({ env: {}, platform: 'linux', home: '/home/u' })).toBe('/home/u/.local/share/amalgam/workspaces/default')
    expect(defaultWorkspaceDir({ env: { AMALGAM_WORKSPACE: '/mnt/ws' }, platform: 'linux', home: '/home/u' })).toBe('/mnt/ws')
  })

  it('recovery fails jobs of dead owners only, and removes their partial folders', async () => {
    const d = await tmp()
    const ws = openWorkspace(join(d, 'ws'), { create: true, hash: async () => '0'.repeat(64) })
    ws.pools.insert({ id: 'p1', name: 'pool', base: '/b', models: ['/m'] })
    for (const id of ['dead', 'live', 'done']) {
      ws.experiments.insert(exp(id))
      mkdirSync(ws.run(id).dir, { recursive: true })
      writeFileSync(ws.run(id).log, 'log\n')
    }
    ws.experiments.update('dead', { status: 'running' })
    ws.experiments.update('live', { status: 'running' })
    ws.experiments.update('done', { status: 'done' })
    ws.jobs.insert('j-dead', 'merge', 'dead', null, 999_001)
    ws.jobs.insert('j-live', 'merge', 'live', null, 999_002)
    mkdirSync(join(ws.run('dead').dir, 'model.tmp-999001-abcd'))
    mkdirSync(join(ws.run('live').dir, 'model.tmp-999002-abcd'))
    mkdirSync(join(ws.run('done').dir, 'model.tmp-1-ffff'))
    const outRoot = join(d, 'out')
    mkdirSync(join(outRoot, 'export.tmp-999001-1234'), { recursive: true })
    ws.jobs.insert('j-exp', 'export', 'done', join(outRoot, 'export'), 999_001)
    const r = ws.recover((pid) => pid === 999_002)
    expect(r.failedExperiments).toEqual(['dead'])
    expect(r.failedJobs.sort()).toEqual(['j-dead', 'j-exp'])
    expect(ws.experiments.get('dead')).toMatchObject({ status: 'failed', error: INTERRUPTED_REASON })
    expect(ws.experiments.get('live').status).toBe('running')
    expect(existsSync(join(ws.run('dead').dir, 'model.tmp-999001-abcd'))).toBe(false)
    expect(existsSync(join(ws.run('live').dir, 'model.tmp-999002-abcd'))).toBe(true)
    expect(existsSync(join(ws.run('done').dir, 'model.tmp-1-ffff'))).toBe(false)
    expect(existsSync(ws.run('dead').log)).toBe(true)
    expect(existsSync(join(outRoot, 'export.tmp-999001-1234'))).toBe(false)
    expect(ws.jobs.get('j-live')!.status).toBe('queued')
    ws.close()
  })

  it('hashes files once per (path, size, mtime)', async () => {
    const d = await tmp()
    const db = openDb(join(d, 'h.db'))
    let calls = 0
    const cache = new FileHashCache(db, async () => { calls++; return String(calls).padStart(64, '0') })
    const f = join(d, 'w.bin')
    writeFileSync(f, 'abc')
    const a = await cache.sha256(f)
    const b = await cache.sha256(f)
    expect(a).toEqual(b)
    expect(calls).toBe(1)
    writeFileSync(f, 'abcd')
    expect((await cache.sha256(f)).size).toBe(4)
    expect(calls).toBe(2)
    await expect(cache.sha256(join(d, 'missing'))).rejects.toThrow(/missing/)
    db.close()
  })
})
