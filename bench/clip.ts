// npx tsx bench/clip.ts — CLIP ViT-B/32 vision forward on CPU (random weights): images/s and
// achieved GFLOP/s beside two ceilings measured on this machine right now: the TF.js backend's
// own matmul at the forward's dominant GEMM shape (what this forward could reach if it were all
// GEMM) and the engine's native sgemm (OpenBLAS, main/engine/linalg). Also the image pipeline
// (JPEG decode + bicubic resize + crop + normalise) in images/s, since evaluation needs both.
import { loadavg } from 'node:os'
import sharp from 'sharp'
import { getModelTf, tf } from '../main/engine/model/tf'
import { ClipVision } from '../main/engine/model/clip-vision'
import { clipParamShapes, numTokens, type ClipVisionConfig } from '../main/engine/model/config'
import { matmul, mat, linalgInfo } from '../main/engine/linalg'
import { defaultClipImageConfig, preprocessBatch } from '../main/engine/datasets/preprocess'
import type { MemTensor } from '../main/engine/tensors/source'

const B32: ClipVisionConfig = { imageSize: 224, patchSize: 32, numChannels: 3, hiddenSize: 768, intermediateSize: 3072, numHeads: 12, numLayers: 12, layerNormEps: 1e-5, hiddenAct: 'quick_gelu', projectionDim: 512 }
const batches = (process.argv[2] ?? '8,32').split(',').map(Number)
const reps = 3

function flopsPerImage(c: ClipVisionConfig): number {
  const T = numTokens(c), D = c.hiddenSize, I = c.intermediateSize
  const patch = 2 * (T - 1) * c.numChannels * c.patchSize ** 2 * D
  const perLayer = 2 * T * 4 * D * D + 2 * 2 * T * T * D + 2 * 2 * T * D * I
  return patch + c.numLayers * perLayer + 2 * D * (c.projectionDim ?? 0)
}

// Best of n after one warm-up: the CPU is shared, so the fastest run is the closest estimate of
// what the code can do; the same rule is applied to the forward and to the ceilings.
function timeIt(fn: () => void, n: number): number {
  fn()
  let best = Infinity
  for (let i = 0; i < n; i++) { const t0 = performance.now(); fn(); best = Math.min(best, (performance.now() - t0) / 1000) }
  return best
}

await getModelTf()
let s = 12345
const rand = (): number => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return (s / 4294967296 - 0.5) * 0.04 }
const params = new Map<string, MemTensor>()
for (const [name, shape] of clipParamShapes(B32)) params.set(name, { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand) })
const vm = await ClipVision.load(B32, params, 'random ViT-B/32')
const F = flopsPerImage(B32)

const rows: string[] = []
for (const b of batches) {
  const x = tf.randomNormal([b, 224, 224, 3]) as import('@tensorflow/tfjs').Tensor4D
  const sec = timeIt(() => { const e = vm.embed(x); e.dataSync(); e.dispose() }, reps)
  x.dispose()
  rows.push(`| forward, batch ${b} | ${(b / sec).toFixed(1)} images/s | ${((F * b) / sec / 1e9).toFixed(1)} GFLOP/s |`)
}
// dominant GEMM of the forward: tokens × D by D × 4D (fc1), for the largest batch
const M = Math.max(...batches) * numTokens(B32), K = B32.hiddenSize, N = B32.intermediateSize
const a = tf.randomNormal([M, K]) as import('@tensorflow/tfjs').Tensor2D, w = tf.randomNormal([K, N]) as import('@tensorflow/tfjs').Tensor2D
const tfSec = timeIt(() => { const c = tf.matMul(a, w); c.dataSync(); c.dispose() }, 2 * reps)
a.dispose(); w.dispose()
const am = mat(M, K, Float32Array.from({ length: M * K }, rand)), bm = mat(K, N, Float32Array.from({ length: K * N }, rand))
const nativeSec = timeIt(() => { matmul(am, bm) }, 2 * reps)
const gemmFlops = 2 * M * K * N
const li = linalgInfo()

// image pipeline: a 500×375 JPEG (typical SUN397/DTD size) → 224×224 normalised, 4 concurrent decodes
const px = Buffer.from(Float32Array.from({ length: 500 * 375 * 3 }, () => Math.random() * 255))
const jpeg = await sharp(px.subarray(0, 500 * 375 * 3), { raw: { width: 500, height: 375, channels: 3 } }).jpeg().toBuffer()
const ex = Array.from({ length: 64 }, (_, i) => ({ index: i, label: 0, bytes: jpeg, where: 'bench.jpg' }))
await preprocessBatch(ex.slice(0, 4), defaultClipImageConfig())
const p0 = performance.now()
await preprocessBatch(ex, defaultClipImageConfig())
const prepIps = 64 / ((performance.now() - p0) / 1000)

console.log(`CLIP ViT-B/32 vision forward, random weights, TF.js backend ${tf.getBackend()}, ${(F / 1e9).toFixed(2)} GFLOP/image (best of ${reps} after a warm-up); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} — other processes share the CPU when this is above the core count`)
console.log('| measurement | throughput | compute |')
console.log('|---|---|---|')
for (const r of rows) console.log(r)
console.log(`| ceiling: TF.js matMul ${M}×${K}·${K}×${N} | ${((gemmFlops / tfSec / 1e9) * 1e9 / F).toFixed(1)} images/s at that rate | ${(gemmFlops / tfSec / 1e9).toFixed(1)} GFLOP/s |`)
console.log(`| ceiling: engine sgemm (${li.native ? `native ${li.blas ?? 'BLAS'}, ${li.threads} threads` : `TS fallback: ${li.reason ?? ''}`}) same shape | ${((gemmFlops / nativeSec) / F).toFixed(1)} images/s at that rate | ${(gemmFlops / nativeSec / 1e9).toFixed(1)} GFLOP/s |`)
console.log(`| image pipeline (500×375 JPEG → 224², 4 concurrent) | ${prepIps.toFixed(1)} images/s | — |`)
vm.dispose()
process.exit(0)
