// Pixel transformations that turn the source images into the mini-8 tasks. All work on one
// square uint8 greyscale image stored row-major.

export type Image = Uint8Array

/** 90° counter-clockwise: out(r, c) = in(c, n−1−r) */
export function rotate90(img: Image, n: number): Image {
  const out = new Uint8Array(n * n)
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) out[r * n + c] = img[c * n + (n - 1 - r)]
  return out
}

export function rotate180(img: Image, n: number): Image {
  const out = new Uint8Array(n * n)
  for (let i = 0; i < n * n; i++) out[i] = img[n * n - 1 - i]
  return out
}

export function invert(img: Image): Image {
  const out = new Uint8Array(img.length)
  for (let i = 0; i < img.length; i++) out[i] = 255 - img[i]
  return out
}

/**
 * Bilinear resampling of the square window [top, top+size) × [left, left+size) of an n×n image
 * to m×m, sampling at pixel centres (the half-pixel convention of PIL and torchvision).
 */
export function resizeWindow(img: Image, n: number, top: number, left: number, size: number, m: number): Image {
  const out = new Uint8Array(m * m)
  const s = size / m
  const at = (r: number, c: number) => img[Math.min(n - 1, Math.max(0, r)) * n + Math.min(n - 1, Math.max(0, c))]
  for (let i = 0; i < m; i++) {
    const y = top + (i + 0.5) * s - 0.5
    const y0 = Math.floor(y), fy = y - y0
    for (let j = 0; j < m; j++) {
      const x = left + (j + 0.5) * s - 0.5
      const x0 = Math.floor(x), fx = x - x0
      const v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1))
      out[i * m + j] = Math.round(v)
    }
  }
  return out
}

/** Places an m×m image at (top, left) on an n×n black canvas. */
export function pad(img: Image, m: number, n: number, top: number, left: number): Image {
  const out = new Uint8Array(n * n)
  for (let r = 0; r < m; r++) out.set(img.subarray(r * m, r * m + m), (top + r) * n + left)
  return out
}
