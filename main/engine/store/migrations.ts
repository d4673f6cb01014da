// Versioned schema migrations. The version lives in PRAGMA user_version (one integer in the
// database header, so it is updated in the same transaction as the DDL it describes).
// Append new steps; never edit a released one — databases in the wild were built by it.

export interface Migration { version: number; description: string; sql: string }

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'pools, pool files, experiments',
    sql: `
      CREATE TABLE pools (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        base TEXT NOT NULL,
        models_json TEXT NOT NULL,
        benchmark TEXT,
        created_at TEXT NOT NULL
      );
      CREATE TABLE experiments (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        method TEXT NOT NULL,
        params_json TEXT NOT NULL,
        seed INTEGER NOT NULL,
        pool_id TEXT NOT NULL REFERENCES pools(id),
        benchmark TEXT,
        status TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled')),
        error TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        duration_ms INTEGER,
        engine_version TEXT NOT NULL,
        backend TEXT NOT NULL,
        metrics_json TEXT,
        average REAL,
        normalized REAL,
        peak_rss_bytes INTEGER,
        recipe_yaml TEXT NOT NULL,
        artifact_dir TEXT
      );
      CREATE INDEX experiments_created ON experiments(created_at);
      CREATE INDEX experiments_method ON experiments(method, created_at);
      CREATE INDEX experiments_status ON experiments(status);
    `,
  },
  {
    version: 2,
    description: 'tags, notes, stars; sort index on average',
    sql: `
      ALTER TABLE experiments ADD COLUMN note TEXT NOT NULL DEFAULT '';
      ALTER TABLE experiments ADD COLUMN starred INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE experiment_tags (
        experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (experiment_id, tag)
      );
      CREATE INDEX experiment_tags_tag ON experiment_tags(tag, experiment_id);
      CREATE INDEX experiments_average ON experiments(average);
      CREATE INDEX experiments_starred ON experiments(starred, created_at);
    `,
  },
  {
    version: 3,
    description: 'file hash cache, pool file fingerprints, jobs that own files outside runs/, history sort indexes',
    sql: `
      CREATE TABLE file_hashes (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ms REAL NOT NULL,
        sha256 TEXT NOT NULL
      );
      CREATE TABLE pool_files (
        pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT,
        PRIMARY KEY (pool_id, path)
      );
      ALTER TABLE pools ADD COLUMN config_json TEXT;
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        experiment_id TEXT REFERENCES experiments(id) ON DELETE SET NULL,
        status TEXT NOT NULL,
        target TEXT,
        owner_pid INTEGER NOT NULL,
        error TEXT,
        created_at TEXT NOT NULL,
        ended_at TEXT
      );
      CREATE INDEX jobs_status ON jobs(status);
      -- the history view's default order (newest first, id as tie-break) straight from an index
      CREATE INDEX experiments_created_id ON experiments(created_at, id);
      CREATE INDEX experiments_name ON experiments(name, id);
    `,
  },
  {
    version: 4,
    description: 'per-task methods keep one model folder per task: their task names',
    sql: `
      ALTER TABLE experiments ADD COLUMN kept_tasks_json TEXT;
    `,
  },
]

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version
