import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ClipTokenizer, bytesToUnicode, cleanText, loadClipTokenizer } from '../../../main/engine/clip/tokenizer'
import { TEST_MERGES, tinyClipVocab } from './tiny-vocab'

const dir = mkdtempSync(join(tmpdir(), 'clip-tok-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// Hand-derived ids. Byte characters: printable ASCII c has id c-33 (and 256+c-33 with </w>);
// merges 0..5 give ids 512..517, so "photo</w>" = 515 and "cat</w>" = 517.
const A_END = 256 + 97 - 33 // "a</w>" = 320, also CLIP's real id
const PHOTO = 515, CAT = 517
const O = 111 - 33, F_END = 256 + 102 - 33, DOT_END = 256 + 46 - 33

describe('CLIP BPE tokenizer', () => {
  const tok = new ClipTokenizer({ vocab: tinyClipVocab(), merges: TEST_MERGES })

  it('maps bytes to CLIP characters reversibly', () => {
    const t = bytesToUnicode()
    expect(new Set(t).size).toBe(256)
    expect(t[0x61]).toBe('a')
    expect(t[0x20]).toBe('Ġ')
    expect(t[0]).toBe('Ā')
  })

  it('encodes a prompt with bos, merges, </w> and eos-padding', () => {
    const ids = tok.encode('A  Photo of a CAT.')
    expect(A_END).toBe(320)
    expect([...ids.slice(0, 9)]).toEqual([49406, A_END, PHOTO, O, F_END, A_END, CAT, DOT_END, 49407])
    expect(ids.length).toBe(77)
    expect([...ids.slice(9)].every((x) => x === 49407)).toBe(true)
  })

  it('splits digits and contractions, and falls back to bytes for characters without merges', () => {
    expect(tok.encodeText('12')).toEqual([256 + 49 - 33, 256 + 50 - 33])
    // "it's" → "it" + "'s": i, t</w>, ', s</w>
    expect(tok.encodeText("it's")).toEqual([105 - 33, 256 + 116 - 33, 39 - 33, 256 + 115 - 33])
    // é = C3 A9: Ã (index 106 + 0xC3-0xAE) then © with </w> (256 + 94 + 0xA9-0xA1)
    expect(tok.encodeText('é')).toEqual([127, 358])
    // € = E2 82 AC: 0x82 is not printable, so it maps past 255 (index 188 + 36)
    expect(tok.encodeText('€')).toEqual([158, 224, 361])
  })

  it('truncates to the context length keeping eos last', () => {
    const long = tok.encode(Array(100).fill('a').join(' '))
    expect(long.length).toBe(77)
    expect(long[0]).toBe(49406)
    expect(long[76]).toBe(49407)
    expect([...long.slice(1, 76)].every((x) => x === A_END)).toBe(true)
    const short = new ClipTokenizer({ vocab: tinyClipVocab(), merges: TEST_MERGES }, { contextLength: 4, padId: 0 })
    expect([...short.encode('a cat photo')]).toEqual([49406, A_END, CAT, 49407])
    expect([...short.encode('a')]).toEqual([49406, A_END, 49407, 0])
  })

  it('normalises whitespace and case', () => {
    expect(cleanText('  Hello\n\tWORLD  ')).toBe('hello world')
  })

  it('reads tokenizer.json and vocab.json + merges.txt to the same ids', () => {
    const a = join(dir, 'fast'), b = join(dir, 'slow')
    for (const d of [a, b]) rmSync(d, { recursive: true, force: true })
    mkdirSync(a); mkdirSync(b)
    const vocab = tinyClipVocab()
    const specials = ['<|startoftext|>', '<|endoftext|>']
    const base = Object.fromEntries(Object.entries(vocab).filter(([k]) => !specials.includes(k)))
    writeFileSync(join(a, 'tokenizer.json'), JSON.stringify({
      model: { type: 'BPE', vocab: base, merges: TEST_MERGES.map(([x, y]) => `${x} ${y}`) },
      added_tokens: specials.map((content) => ({ id: vocab[content], content })),
    }))
    writeFileSync(join(b, 'vocab.json'), JSON.stringify(vocab))
    writeFileSync(join(b, 'merges.txt'), '#version: 0.2\n' + TEST_MERGES.map((m) => m.join(' ')).join('\n') + '\n')
    writeFileSync(join(b, 'tokenizer_config.json'), JSON.stringify({ pad_token: '!', model_max_length: 10 }))
    const fast = loadClipTokenizer(a), slow = loadClipTokenizer(b)
    expect([...fast.encode('a photo of a cat')].slice(0, 7)).toEqual([...slow.encode('a photo of a cat')].slice(0, 7))
    expect(slow.contextLength).toBe(10)
    expect(slow.padId).toBe(0)
    expect(() => loadClipTokenizer(dir)).toThrow(/tokenizer/)
  })
})
