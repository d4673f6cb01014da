import { describe, expect, it } from 'vitest'
import { resizeBicubicRgb } from '../../../main/engine/datasets/resample'

// Continuous reference: Pillow's antialiased bicubic as real arithmetic (no fixed point, no 8-bit
// intermediate), one axis at a time.
function cubic(x: number): number { x = Math.abs(x); return x < 1 ? (1.5 * x - 2.5) * x * x + 1 : x < 2 ? (((x - 5) * x + 8) * x - 4) * -0.5 : 0 }
function resample1d(v: number[], outN: number): number[] {
  const n = v.length, scale = n / outN, fs = Math.max(1, scale), sup = 2 * fs
  return Array.from({ length: outN }, (_, i) => {
    const c = (i + 0.5) * scale
    let s = 0, ws = 0
    for (let x = Math.max(0, Math.trunc(c - sup + 0.5)); x < Math.min(n, Math.trunc(c + sup + 0.5)); x++) { const w = cubic((x - c + 0.5) / fs); s += w * v[x]; ws += w }
    return s / ws
  })
}

describe('Pillow-compatible bicubic resize', () => {
  it('matches hand-computed Pillow values for a 4→2 downscale', () => {
    // output 0: weights cubic(−.25), cubic(.25), cubic(.75), cubic(1.25) normalised → 60.35 → rounds to 60;
    // output 1: the mirrored weights → 220.68 → 221 (Pillow rounds to nearest)
    const row = [0, 100, 200, 255].flatMap((v) => [v, v, v])
    expect([...resizeBicubicRgb(Uint8Array.from(row), 4, 1, 2, 1)]).toEqual([60, 60, 60, 221, 221, 221])
  })
  it('stays within one level of the continuous filter in both directions, up and down', () => {
    let s = 7
    const rnd = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 }
    for (const [w, h, ow, oh] of [[37, 23, 16, 10], [9, 13, 20, 29], [50, 8, 22, 8], [8, 50, 8, 22]]) {
      const src = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rnd() * 256))
      const got = resizeBicubicRgb(src, w, h, ow, oh)
      for (let c = 0; c < 3; c++) {
        // horizontal then vertical, with rounding/clipping between passes like the real thing
        const rows = Array.from({ length: h }, (_, y) => resample1d(Array.from({ length: w }, (_, x) => src[(y * w + x) * 3 + c]), ow).map((v) => Math.min(255, Math.max(0, Math.round(v)))))
        for (let x = 0; x < ow; x++) {
          const col = resample1d(rows.map((r) => r[x]), oh)
          for (let y = 0; y < oh; y++) expect(Math.abs(got[(y * ow + x) * 3 + c] - Math.min(255, Math.max(0, col[y])))).toBeLessThanOrEqual(1)
        }
      }
    }
  })
  it('keeps constant images constant and returns the input when the size is unchanged', () => {
    const src = new Uint8Array(11 * 7 * 3).fill(93)
    expect(resizeBicubicRgb(src, 11, 7, 5, 3).every((v) => v === 93)).toBe(true)
    expect(resizeBicubicRgb(src, 11, 7, 11, 7)).toBe(src)
    expect(() => resizeBicubicRgb(src, 10, 7, 5, 3)).toThrow(/10×7/)
  })
})
