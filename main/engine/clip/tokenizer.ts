// CLIP's byte-level BPE tokenizer, read from a base model folder (tokenizer.json, or vocab.json +
// merges.txt). It follows the HF fast CLIP tokenizer: NFC, whitespace collapsed to single spaces,
// lower-case, the CLIP pre-tokenisation regex, GPT-2 byte→unicode mapping, "</w>" marking the last
// symbol of each word, then <|startoftext|> … <|endoftext|> and padding to a fixed context length.
// Written here rather than taken from a library so the engine stays offline and dependency-free for
// a ~150-line algorithm whose exact behaviour the zero-shot heads depend on.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AmalgamError } from '#common/errors'

export const BOS_TOKEN = '<|startoftext|>'
export const EOS_TOKEN = '<|endoftext|>'
export const END_OF_WORD = '</w>'

// Contractions, letter runs, single digits, and runs of other non-space characters — the same
// splits as CLIP's original tokenizer (numbers are split digit by digit).
const PRETOKEN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu

/** GPT-2's reversible byte → printable-character table (bytes that are printable map to themselves). */
export function bytesToUnicode(): string[] {
  const keep: number[] = []
  const range = (a: number, b: number): void => { for (let i = a; i <= b; i++) keep.push(i) }
  range(0x21, 0x7e); range(0xa1, 0xac); range(0xae, 0xff)
  const table = new Array<string>(256)
  const kept = new Set(keep)
  for (const b of keep) table[b] = String.fromCodePoint(b)
  let extra = 0
  for (let b = 0; b < 256; b++) if (!kept.has(b)) table[b] = String.fromCodePoint(256 + extra++)
  return table
}

export interface ClipTokenizerOptions {
  /** tokens per sequence including bos/eos (CLIP: 77) */
  contextLength?: number
  /** padding id; HF's openai CLIP configs pad with <|endoftext|> */
  padId?: number
}

export interface TokenizerFiles { vocab: Record<string, number>; merges: Array<[string, string]>; padToken?: string; contextLength?: number }

export class ClipTokenizer {
  readonly bosId: number
  readonly eosId: number
  readonly padId: number
  readonly contextLength: number
  private readonly vocab: Map<string, number>
  private readonly ranks = new Map<string, number>()
  private readonly byteChar = bytesToUnicode()
  private readonly cache = new Map<string, number[]>()
  private readonly encoder = new TextEncoder()

  constructor(files: TokenizerFiles, opts: ClipTokenizerOptions = {}, where = 'tokenizer') {
    this.vocab = new Map(Object.entries(files.vocab))
    files.merges.forEach(([a, b], i) => { if (!this.ranks.has(a + ' ' + b)) this.ranks.set(a + ' ' + b, i) })
    const id = (tok: string): number => {
      const v = this.vocab.get(tok)
      if (v === undefined) throw new AmalgamError('BAD_FILE', `${where}: the vocabulary has no ${tok} token`)
      return v
    }
    this.bosId = id(BOS_TOKEN)
    this.eosId = id(EOS_TOKEN)
    this.padId = opts.padId ?? (files.padToken !== undefined ? id(files.padToken) : this.eosId)
    this.contextLength = opts.contextLength ?? files.contextLength ?? 77
    if (this.contextLength < 2) throw new AmalgamError('BAD_PARAM', `${where}: context length ${this.contextLength} leaves no room for bos and eos`)
  }

  /** Text → ids without bos/eos (the BPE pieces of every word). */
  encodeText(text: string): number[] {
    const out: number[] = []
    for (const m of cleanText(text).matchAll(PRETOKEN)) {
      const word = m[0]
      if (word === BOS_TOKEN) { out.push(this.bosId); continue }
      if (word === EOS_TOKEN) { out.push(this.eosId); continue }
      for (const t of this.wordIds(word)) out.push(t)
    }
    return out
  }

  /** One sequence: bos, text ids truncated to fit, eos, then padding to the context length. */
  encode(text: string): Int32Array {
    const ids = this.encodeText(text).slice(0, this.contextLength - 2)
    const row = new Int32Array(this.contextLength).fill(this.padId)
    row[0] = this.bosId
    row.set(ids, 1)
    row[ids.length + 1] = this.eosId
    return row
  }

  /** A batch as a row-major [n, contextLength] id matrix. */
  encodeBatch(texts: readonly string[]): Int32Array {
    const out = new Int32Array(texts.length * this.contextLength)
    texts.forEach((t, i) => out.set(this.encode(t), i * this.contextLength))
    return out
  }

  private wordIds(word: string): number[] {
    const hit = this.cache.get(word)
    if (hit) return hit
    const chars = [...this.encoder.encode(word)].map((b) => this.byteChar[b])
    chars[chars.length - 1] += END_OF_WORD
    const pieces = this.bpe(chars)
    const ids = pieces.map((p) => {
      const v = this.vocab.get(p)
      // Every single byte character (with and without </w>) is in CLIP's base vocabulary, so a miss
      // means the files are not a CLIP byte-level BPE vocabulary.
      if (v === undefined) throw new AmalgamError('BAD_FILE', `tokenizer: piece ${JSON.stringify(p)} of word ${JSON.stringify(word)} is not in the vocabulary`)
      return v
    })
    if (this.cache.size < 50_000) this.cache.set(word, ids)
    return ids
  }

  // Repeatedly merge the adjacent pair with the lowest merge rank, all its occurrences at once.
  private bpe(symbols: string[]): string[] {
    let s = symbols
    while (s.length > 1) {
      let best = -1, bestRank = Infinity
      for (let i = 0; i < s.length - 1; i++) {
        const r = this.ranks.get(s[i] + ' ' + s[i + 1])
        if (r !== undefined && r < bestRank) { bestRank = r; best = i }
      }
      if (best < 0) break
      const a = s[best], b = s[best + 1]
      const next: string[] = []
      for (let i = 0; i < s.length;) {
        if (i < s.length - 1 && s[i] === a && s[i + 1] === b) { next.push(a + b); i += 2 } else { next.push(s[i]); i += 1 }
      }
      s = next
    }
    return s
  }
}

/** NFC, collapse whitespace runs to one space, trim, lower-case (HF's CLIP normaliser). */
export function cleanText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase()
}

const readJson = (file: string): unknown => {
  try { return JSON.parse(readFileSync(file, 'utf8')) } catch (e) {
    throw new AmalgamError('BAD_FILE', `${file}: not valid JSON (${(e as Error).message})`)
  }
}

function parseMergeLines(text: string, file: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  text.split('\n').forEach((line, i) => {
    if (i === 0 && line.startsWith('#version')) return
    if (!line.trim()) return
    const parts = line.split(' ')
    if (parts.length !== 2) throw new AmalgamError('BAD_FILE', `${file}: line ${i + 1} is not a pair of symbols: ${JSON.stringify(line)}`)
    out.push([parts[0], parts[1]])
  })
  return out
}

/** Reads the tokenizer of a CLIP base folder: tokenizer.json when present, else vocab.json + merges.txt. */
export function loadClipTokenizer(dir: string, opts: ClipTokenizerOptions = {}): ClipTokenizer {
  const tj = join(dir, 'tokenizer.json')
  let files: TokenizerFiles
  if (existsSync(tj)) {
    const j = readJson(tj) as { model?: { type?: string; vocab?: Record<string, number>; merges?: Array<string | [string, string]> }; added_tokens?: Array<{ id: number; content: string }> }
    const m = j.model
    if (!m || !m.vocab || !Array.isArray(m.merges)) throw new AmalgamError('BAD_FILE', `${tj}: model.vocab and model.merges are required (a BPE tokenizer)`)
    if (m.type && m.type !== 'BPE') throw new AmalgamError('BAD_FILE', `${tj}: model.type is ${m.type}, CLIP needs BPE`)
    const vocab = { ...m.vocab }
    for (const t of j.added_tokens ?? []) vocab[t.content] = t.id
    const merges = m.merges.map((x, i): [string, string] => {
      if (Array.isArray(x) && x.length === 2) return [x[0], x[1]]
      if (typeof x === 'string') { const p = x.split(' '); if (p.length === 2) return [p[0], p[1]] }
      throw new AmalgamError('BAD_FILE', `${tj}: merges[${i}] is not a pair of symbols`)
    })
    files = { vocab, merges }
  } else {
    const vj = join(dir, 'vocab.json'), mt = join(dir, 'merges.txt')
    if (!existsSync(vj) || !existsSync(mt)) throw new AmalgamError('NOT_FOUND', `${dir}: no tokenizer.json and no vocab.json + merges.txt; the CLIP base folder must include its tokenizer files`)
    files = { vocab: readJson(vj) as Record<string, number>, merges: parseMergeLines(readFileSync(mt, 'utf8'), mt) }
  }
  const tc = join(dir, 'tokenizer_config.json')
  if (existsSync(tc)) {
    const c = readJson(tc) as { pad_token?: string | { content?: string }; model_max_length?: number }
    const pad = typeof c.pad_token === 'string' ? c.pad_token : c.pad_token?.content
    if (pad && pad in files.vocab) files.padToken = pad
    if (typeof c.model_max_length === 'number' && c.model_max_length > 1 && c.model_max_length < 100_000) files.contextLength = c.model_max_length
  }
  return new ClipTokenizer(files, opts, dir)
}
