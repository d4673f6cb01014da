// Opens a local image dataset split, whichever layout it is stored in.
import { AmalgamError } from '#common/errors'
import { looksLikeImageFolder, openImageFolder } from './imagefolder'
import { findParquetShards, openParquetDataset } from './parquet'
import type { ImageDataset } from './types'

export type { ImageDataset, ImageExample } from './types'
export { openImageFolder } from './imagefolder'
export { openParquetDataset, findParquetShards } from './parquet'
export { preprocessImage, preprocessBatch, loadClipImageConfig, defaultClipImageConfig, outputSize, CLIP_MEAN, CLIP_STD, type ClipImageConfig, type PixelBatch } from './preprocess'

/** ImageFolder (DIR/SPLIT/CLASS/*) when it exists, else HF parquet shards of SPLIT under DIR. */
export async function openImageDataset(dir: string, split: string): Promise<ImageDataset> {
  if (await looksLikeImageFolder(dir, split)) return openImageFolder(dir, split)
  if ((await findParquetShards(dir, split).catch(() => [])).length > 0) return openParquetDataset(dir, split)
  throw new AmalgamError('NOT_FOUND', `${dir}: no "${split}" split found (neither ${split}/<class>/<image> folders nor parquet shards such as data/${split}-00000-of-00001.parquet)`)
}
export { sampleExemplars, type ExemplarOptions } from './exemplars'
