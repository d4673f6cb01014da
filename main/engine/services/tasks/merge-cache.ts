// The merge cache of a workspace run: the workspace's content-addressed cache folder, with the
// pool members named by the sha256 of their files (computed by the engine host before the job).
import { diskMergeCache, type MergeCache, type PoolContentKeys } from '../../merge/cache'
import { ContentCache } from '../../workspace/cache'

/** Plain data, so it crosses into the job's child process. */
export interface RunCacheInput { dir: string; keys: PoolContentKeys }

export function openRunCache(c: RunCacheInput): MergeCache {
  return diskMergeCache(new ContentCache(c.dir), c.keys)
}
