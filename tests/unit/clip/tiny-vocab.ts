// A small vocabulary laid out like CLIP's: the 256 byte characters in GPT-2 table order, the same
// 256 with "</w>", then a few merges, then the two special tokens at CLIP's real ids. Single-byte
// ids therefore equal the real CLIP ids (e.g. "a</w>" = 320).
import { bytesToUnicode } from '../../../main/engine/clip/tokenizer'

export const TEST_MERGES: Array<[string, string]> = [['h', 'o'], ['p', 'ho'], ['t', 'o</w>'], ['pho', 'to</w>'], ['c', 'a'], ['ca', 't</w>']]

/** bytes in the order CLIP's vocab lists them: printable ranges first, then the rest */
export function clipByteOrder(): number[] {
  const keep: number[] = []
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b)
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b)
  for (let b = 0xae; b <= 0xff; b++) keep.push(b)
  const set = new Set(keep)
  for (let b = 0; b < 256; b++) if (!set.has(b)) keep.push(b)
  return keep
}

export function tinyClipVocab(): Record<string, number> {
  const table = bytesToUnicode()
  const order = clipByteOrder()
  const vocab: Record<string, number> = {}
  order.forEach((b, i) => { vocab[table[b]] = i })
  order.forEach((b, i) => { vocab[table[b] + '</w>'] = 256 + i })
  TEST_MERGES.forEach(([a, b], i) => { vocab[a + b] = 512 + i })
  vocab['<|startoftext|>'] = 49406
  vocab['<|endoftext|>'] = 49407
  return vocab
}
