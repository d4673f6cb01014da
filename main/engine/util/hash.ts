// Streaming SHA-256 of a file (provenance: the hash of every input shard, formats.md §6.4).
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { AmalgamError, CancelledError } from '#common/errors'

/** Lower-case hex SHA-256 of a file, read in 1 MiB chunks (never the whole file in memory). */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256')
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) h.update(chunk as Buffer)
  } catch (e) {
    if (signal?.aborted) throw new CancelledError(`hashing ${path}`)
    const code = (e as NodeJS.ErrnoException).code
    throw new AmalgamError(code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `${path}: cannot hash (${code ?? (e as Error).message})`)
  }
  return h.digest('hex')
}
