// npm run bench:eval — seconds to evaluate one model (the mini-8 pretrained checkpoint) on all
// eight test sets, images/s, and the ceiling: the model's FLOPs at the wasm matmul rate measured
// in engine-facts.md (≈ 24 GFLOP/s single-threaded XNNPACK SIMD).
import { getModelTf, tf } from '../main/engine/model/tf'
import { loadMini8 } from '../main/engine/benchmark/mini8'
import { evaluate } from '../main/engine/benchmark/evaluate'
import { openModel } from '../main/engine/checkpoints/open'
import { numTokens } from '../main/engine/model/config'

const WASM_GFLOPS = 24

await getModelTf()
const bench = await loadMini8()
const c = bench.config
const T = numTokens(c), D = c.hiddenSize, I = c.intermediateSize
const flopsPerImage = 2 * (T - 1) * c.numChannels * c.patchSize ** 2 * D + c.numLayers * (2 * T * 4 * D * D + 2 * 2 * T * T * D + 2 * 2 * T * D * I)
const images = bench.tasks.reduce((s, t) => s + bench.data(t, 'test').count, 0)
const rows: Array<[string, number, number]> = []
for (const batch of [100, 250, 500]) {
  const model = await openModel(bench.pretrainedDir)
  await evaluate(model, { bench, batchSize: batch, tasks: [bench.tasks[0]] }) // warm-up (kernels, heads, data)
  const times: number[] = []
  for (let r = 0; r < 3; r++) times.push((await evaluate(model, { bench, batchSize: batch })).seconds)
  await model.close()
  rows.push([`batch ${batch}`, Math.min(...times), times.sort((a, b) => a - b)[1]])
}
const ceiling = (WASM_GFLOPS * 1e9) / flopsPerImage
console.log(`mini-8 evaluation, ${images} test images, ${(flopsPerImage / 1e6).toFixed(2)} MFLOP/image, backend ${tf.getBackend()}`)
console.log('| setting | seconds (min / median of 3) | images/s (min time) | ceiling images/s (FLOPs at ≈ 24 GFLOP/s) | % of ceiling |')
console.log('|---|---|---|---|---|')
for (const [name, min, med] of rows) {
  const ips = images / min
  console.log(`| ${name} | ${min.toFixed(2)} / ${med.toFixed(2)} | ${ips.toFixed(0)} | ${ceiling.toFixed(0)} | ${((100 * ips) / ceiling).toFixed(1)} % |`)
}
process.exit(0)
