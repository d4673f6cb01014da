// torchvision-style ImageFolder: ROOT/SPLIT/CLASS/*.{jpg,jpeg,png,webp}. Classes are the sorted
// folder names and labels their positions, as torchvision assigns them.
import { readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { AmalgamError } from '#common/errors'
import { throwIfCancelled } from '../util/task'
import type { ImageDataset, ImageExample } from './types'

const IMAGE_EXT = /\.(jpe?g|png|webp)$/i

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

export async function openImageFolder(root: string, split: string): Promise<ImageDataset> {
  const dir = join(root, split)
  let entries
  try { entries = await readdir(dir, { withFileTypes: true }) } catch (e) {
    throw new AmalgamError('NOT_FOUND', `${dir}: cannot list the ${split} split (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected ${split}/<class>/<image> folders`)
  }
  const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort(byCodePoint)
  if (classes.length === 0) throw new AmalgamError('BAD_FILE', `${dir}: no class folders; expected ${split}/<class>/<image> folders`)
  const files: Array<{ path: string; label: number }> = []
  for (let c = 0; c < classes.length; c++) {
    const names = (await readdir(join(dir, classes[c]))).filter((n) => IMAGE_EXT.test(n)).sort(byCodePoint)
    for (const n of names) files.push({ path: join(dir, classes[c], n), label: c })
  }
  if (files.length === 0) throw new AmalgamError('BAD_FILE', `${dir}: the class folders hold no .jpg/.jpeg/.png/.webp images`)
  return {
    label: dir,
    split,
    size: files.length,
    classNames: classes,
    async *batches(batchSize, opts = {}) {
      if (!(batchSize >= 1)) throw new AmalgamError('BAD_PARAM', `batch size must be ≥ 1 (got ${batchSize})`)
      const end = Math.min(files.length, opts.limit ?? files.length)
      for (let s = 0; s < end; s += batchSize) {
        throwIfCancelled(opts.ctx, 'dataset read')
        const batch: ImageExample[] = []
        for (let i = s; i < Math.min(end, s + batchSize); i++) {
          const f = files[i]
          let bytes: Buffer
          try { bytes = await readFile(f.path) } catch (e) { throw new AmalgamError('IO', `${f.path}: cannot read (${(e as Error).message})`) }
          batch.push({ index: i, label: f.label, bytes, where: f.path })
        }
        yield batch
      }
    },
  }
}

/** True when ROOT/SPLIT exists and holds at least one sub-folder. */
export async function looksLikeImageFolder(root: string, split: string): Promise<boolean> {
  try {
    if (!(await stat(join(root, split))).isDirectory()) return false
    return (await readdir(join(root, split), { withFileTypes: true })).some((e) => e.isDirectory())
  } catch { return false }
}
