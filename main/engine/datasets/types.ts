// A labelled image dataset read from local disk, streamed in batches of encoded images so a large
// test split is never held in memory at once.
import type { TaskCtx } from '../util/task'

export interface ImageExample {
  /** position in the split (stable order: the order evaluation reports) */
  index: number
  label: number
  /** the encoded image file (JPEG, PNG, …) */
  bytes: Uint8Array
  /** file or parquet row, for error messages */
  where: string
}

export interface ImageDataset {
  /** folder/file and split, for messages */
  readonly label: string
  readonly split: string
  readonly size: number
  /** class names in label order when the data carries them (ImageFolder folders, HF ClassLabel) */
  readonly classNames: string[] | null
  /** the examples in order, `batchSize` at a time; `limit` stops after that many */
  batches(batchSize: number, opts?: { limit?: number; ctx?: TaskCtx }): AsyncGenerator<ImageExample[]>
}
