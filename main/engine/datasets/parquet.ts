// Hugging Face dataset shards in parquet: an image struct column {bytes, path} and an integer
// label column. Shards are found by the layouts the Hub uses (data/<split>-NNNNN-of-NNNNN.parquet,
// <split>/NNNN.parquet, <split>-*.parquet) and read one row group at a time.
import { readdir } from 'node:fs/promises'
import { basename, join, relative, sep } from 'node:path'
import { parquetMetadataAsync, parquetRead, asyncBufferFromFile } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { AmalgamError } from '#common/errors'
import { throwIfCancelled } from '../util/task'
import type { ImageDataset, ImageExample } from './types'

type Metadata = Awaited<ReturnType<typeof parquetMetadataAsync>>
type AsyncBuffer = Awaited<ReturnType<typeof asyncBufferFromFile>>

interface Shard { path: string; file: AsyncBuffer; md: Metadata; rows: number }

async function listParquet(dir: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 3) return
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p, depth + 1)
      else if (e.name.endsWith('.parquet')) out.push(p)
    }
  }
  await walk(dir, 0)
  return out
}

/** The shard files of one split, in order. */
export async function findParquetShards(dir: string, split: string): Promise<string[]> {
  let all: string[]
  try { all = await listParquet(dir) } catch (e) {
    throw new AmalgamError('NOT_FOUND', `${dir}: cannot list (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  const mine = all.filter((p) => {
    const name = basename(p)
    const parts = relative(dir, p).split(sep)
    return name === `${split}.parquet` || name.startsWith(`${split}-`) || name.startsWith(`${split}_`) || parts.slice(0, -1).includes(split)
  })
  return mine.sort()
}

function hfFeatures(md: Metadata): Record<string, { _type?: string; names?: string[] }> | null {
  const kv = md.key_value_metadata?.find((k) => k.key === 'huggingface')
  if (!kv?.value) return null
  try {
    const j = JSON.parse(kv.value) as { info?: { features?: Record<string, { _type?: string; names?: string[] }> } }
    return j.info?.features ?? null
  } catch { return null }
}

function pickColumns(md: Metadata, where: string): { image: string; label: string } {
  const top = md.schema.slice(1)
  // direct children of the root: walk the flattened schema by num_children
  const roots: Array<{ name: string; children: string[] }> = []
  for (let i = 0; i < top.length;) {
    const el = top[i]
    const n = el.num_children ?? 0
    roots.push({ name: el.name, children: top.slice(i + 1, i + 1 + n).map((c) => c.name) })
    i += 1 + n
  }
  const structs = roots.filter((r) => r.children.includes('bytes'))
  const image = structs.find((r) => r.name === 'image' || r.name === 'img') ?? structs[0]
  if (!image) throw new AmalgamError('BAD_FILE', `${where}: no image column (a struct with a bytes field, as HF's Image feature writes)`)
  const label = roots.find((r) => r.name === 'label' || r.name === 'labels' || r.name === 'fine_label')
  if (!label) throw new AmalgamError('BAD_FILE', `${where}: no label column (label / labels)`)
  return { image: image.name, label: label.name }
}

export async function openParquetDataset(dir: string, split: string): Promise<ImageDataset> {
  const paths = await findParquetShards(dir, split)
  if (paths.length === 0) throw new AmalgamError('NOT_FOUND', `${dir}: no parquet shards for split "${split}" (looked for ${split}-*.parquet, ${split}/*.parquet, data/${split}-*.parquet)`)
  const shards: Shard[] = []
  for (const path of paths) {
    const file = await asyncBufferFromFile(path)
    let md: Metadata
    try { md = await parquetMetadataAsync(file) } catch (e) { throw new AmalgamError('BAD_FILE', `${path}: not a readable parquet file (${(e as Error).message})`) }
    shards.push({ path, file, md, rows: Number(md.num_rows) })
  }
  const cols = pickColumns(shards[0].md, shards[0].path)
  for (const s of shards.slice(1)) {
    const c = pickColumns(s.md, s.path)
    if (c.image !== cols.image || c.label !== cols.label) throw new AmalgamError('BAD_FILE', `${s.path}: columns ${c.image}/${c.label} differ from ${shards[0].path} (${cols.image}/${cols.label})`)
  }
  const names = hfFeatures(shards[0].md)?.[cols.label]?.names
  const size = shards.reduce((a, s) => a + s.rows, 0)
  return {
    label: `${dir} [${split}]`,
    split,
    size,
    classNames: Array.isArray(names) ? names.map(String) : null,
    async *batches(batchSize, opts = {}) {
      if (!(batchSize >= 1)) throw new AmalgamError('BAD_PARAM', `batch size must be ≥ 1 (got ${batchSize})`)
      const limit = Math.min(size, opts.limit ?? size)
      let index = 0
      let pending: ImageExample[] = []
      for (const s of shards) {
        let start = 0
        for (const rg of s.md.row_groups) {
          if (index >= limit) break
          throwIfCancelled(opts.ctx, 'dataset read')
          const n = Number(rg.num_rows)
          const take = Math.min(n, limit - index)
          const rows = await readRows(s, start, start + take, cols)
          start += n
          rows.forEach((r, k) => {
            const where = `${s.path} row ${start - n + k}`
            const img = r[cols.image] as { bytes?: unknown } | null
            const bytes = img?.bytes
            if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new AmalgamError('BAD_FILE', `${where}: ${cols.image}.bytes is empty (images stored only by path are not supported)`)
            const lab = r[cols.label]
            const label = typeof lab === 'bigint' ? Number(lab) : lab
            if (typeof label !== 'number' || !Number.isInteger(label) || label < 0) throw new AmalgamError('BAD_FILE', `${where}: ${cols.label} is not a non-negative integer (${String(lab)})`)
            pending.push({ index: index + k, label, bytes, where })
          })
          index += take
          while (pending.length >= batchSize) { yield pending.slice(0, batchSize); pending = pending.slice(batchSize) }
        }
      }
      if (pending.length) yield pending
    },
  }
}

async function readRows(s: Shard, rowStart: number, rowEnd: number, cols: { image: string; label: string }): Promise<Array<Record<string, unknown>>> {
  let out: Array<Record<string, unknown>> = []
  try {
    await parquetRead({
      file: s.file, metadata: s.md, columns: [cols.image, cols.label], rowStart, rowEnd,
      rowFormat: 'object', utf8: false, compressors,
      onComplete: (rows: unknown) => { out = rows as Array<Record<string, unknown>> },
    })
  } catch (e) {
    throw new AmalgamError('BAD_FILE', `${s.path}: cannot read rows ${rowStart}–${rowEnd} (${(e as Error).message})`)
  }
  return out
}
