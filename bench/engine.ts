// npm run bench:engine — speed of the compute engine beside the ceilings measured in the same run.
//   GEMM: GFLOP/s of sgemm for the native addon, the TypeScript fallback and TF.js (wasm, cpu),
//         against the addon's sgemm peak (best of the large shapes).
//   LAPACK: eigh 768 / 3072, thin SVD 3072×768, pinv 3072 (addon; fallback where it finishes in seconds).
//   Streaming: θ0 + λ·Σ(θi − θ0) over 8 × 88 M float32 (θ0 + 7 models) → out, one thread and
//         worker threads, against a large memcpy (Float32Array.set) on the same buffers.
// Options: --quick (smaller streaming pool, fewer repeats), --full (also the slow fallback cases).
// The machine is shared: every figure is the best of a few runs; expect noise.
import { availableParallelism } from 'node:os'
import {
  availableImplementations, useImplementation, matmul, eigh, svd, pinvPsd, mat, mat64, linalgInfo, type Mat,
} from '../main/engine/linalg/index'
import {
  sharedFloat32, taskArithmeticInto, KernelPool, kthSmallestAbs, TorchGenerator, availableKernelImplementations,
  useKernelImplementation, setKernelThreads,
} from '../main/engine/kernels/index'
import { initTensorBackend, getTf } from '../main/engine/backends/select'

const args = new Set(process.argv.slice(2))
const QUICK = args.has('--quick'), FULL = args.has('--full')

interface Row { group: string; what: string; impl: string; value: number | null; unit: string; ceiling?: number; note?: string; ofPeak?: boolean }
const rows: Row[] = []

function best(reps: number, fn: () => void): number {
  let t = Infinity
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); fn(); t = Math.min(t, (performance.now() - t0) / 1000) }
  return t
}
async function bestAsync(reps: number, fn: () => Promise<void>): Promise<number> {
  let t = Infinity
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); t = Math.min(t, (performance.now() - t0) / 1000) }
  return t
}

function randF32(n: number, seed: number): Float32Array {
  return new TorchGenerator(seed).randFloat32(n).map((x) => x - 0.5)
}
function randMat32(r: number, c: number, seed: number): Mat { return mat(r, c, randF32(r * c, seed)) }
function spd(n: number, seed: number): Mat {
  const x = randMat32(n, n, seed)
  const g = matmul(x, x, { transA: true }) // float32 Gram
  const d = Float64Array.from(g.data)
  for (let i = 0; i < n; i++) d[i * n + i] += 1e-3 * n
  return mat64(n, n, d)
}
const log = (s: string): void => { process.stderr.write(s + '\n') }

// ------------------------------------------------------------------------------------------ GEMM
const impls = availableImplementations()
const gemmShapes: [number, number, number][] = [[768, 3072, 768], [3072, 3072, 3072]]
let sgemmPeak = 0
if (impls.includes('native')) {
  useImplementation('native')
  for (const [m, k, n] of [[1024, 1024, 1024], [2048, 2048, 2048], [3072, 3072, 3072]] as const) {
    const a = randMat32(m, k, 1), b = randMat32(k, n, 2)
    matmul(a, b)
    sgemmPeak = Math.max(sgemmPeak, (2 * m * n * k) / best(3, () => matmul(a, b)) / 1e9)
  }
  log(`sgemm peak ${sgemmPeak.toFixed(1)} GFLOP/s`)
}

for (const [m, k, n] of gemmShapes) {
  const a = randMat32(m, k, 3), b = randMat32(k, n, 4)
  const flop = 2 * m * n * k
  const what = `sgemm ${m}×${k}×${n}`
  for (const impl of impls) {
    useImplementation(impl)
    if (impl === 'fallback' && m * n * k > 2e9 && !FULL) { rows.push({ group: 'GEMM', what, impl, value: null, unit: 'GFLOP/s', note: 'skipped (≈ 10 min in pure TS; --full runs it)' }); continue }
    const t = best(impl === 'native' ? 3 : 1, () => matmul(a, b))
    if (impl === 'native') sgemmPeak = Math.max(sgemmPeak, flop / t / 1e9) // the peak is the best addon figure of the run
    rows.push({ group: 'GEMM', what, impl, value: flop / t / 1e9, unit: 'GFLOP/s', ofPeak: true })
    log(`${what} ${impl}: ${(flop / t / 1e9).toFixed(2)} GFLOP/s`)
  }
}

// TF.js: wasm (SIMD) then cpu, same shapes
{
  await initTensorBackend({ prefer: 'wasm', log })
  const tf = getTf()
  for (const backend of ['wasm', 'cpu'] as const) {
    if (!(await tf.setBackend(backend))) { log(`tf ${backend} unavailable`); continue }
    for (const [m, k, n] of gemmShapes) {
      const what = `sgemm ${m}×${k}×${n}`
      if (backend === 'cpu' && m * n * k > 2e9) { rows.push({ group: 'GEMM', what, impl: `tfjs-${backend}`, value: null, unit: 'GFLOP/s', note: 'skipped (≈ 1.5 h at 0.6 GFLOP/s)' }); continue }
      const a = tf.tensor2d(randF32(m * k, 5), [m, k]), b = tf.tensor2d(randF32(k * n, 6), [k, n])
      const run = (): void => { const c = tf.matMul(a, b); c.dataSync(); c.dispose() }
      run()
      const t = best(backend === 'cpu' ? 1 : 2, run)
      rows.push({ group: 'GEMM', what, impl: `tfjs-${backend}`, value: (2 * m * n * k) / t / 1e9, unit: 'GFLOP/s', ofPeak: true })
      log(`${what} tfjs-${backend}: ${((2 * m * n * k) / t / 1e9).toFixed(2)} GFLOP/s`)
      a.dispose(); b.dispose()
    }
  }
  await tf.setBackend('wasm')
}

// ---------------------------------------------------------------------------------------- LAPACK
{
  const cases: { what: string; run: () => void; fallbackOk: boolean }[] = []
  const s768 = spd(768, 7), s3072 = spd(3072, 8), a3072x768 = randMat32(3072, 768, 9)
  cases.push({ what: 'eigh 768', run: () => { eigh(s768) }, fallbackOk: true })
  cases.push({ what: 'eigh 3072', run: () => { eigh(s3072) }, fallbackOk: false })
  cases.push({ what: 'thin SVD 3072×768', run: () => { svd(a3072x768) }, fallbackOk: false })
  cases.push({ what: 'pinv (PSD, eigh) 3072', run: () => { pinvPsd(s3072) }, fallbackOk: false })
  for (const c of cases) {
    for (const impl of impls) {
      useImplementation(impl)
      if (impl === 'fallback' && !c.fallbackOk && !FULL) { rows.push({ group: 'LAPACK', what: c.what, impl, value: null, unit: 's', note: 'skipped (minutes in pure TS; --full runs it)' }); continue }
      const t = best(impl === 'native' ? 2 : 1, c.run)
      rows.push({ group: 'LAPACK', what: c.what, impl, value: t, unit: 's' })
      log(`${c.what} ${impl}: ${t.toFixed(3)} s`)
    }
  }
}
useImplementation('auto')

// ------------------------------------------------------------------------------------- streaming
{
  const N = QUICK ? 16_000_000 : 88_000_000
  const K = 8 // θ0 + 7 fine-tuned models
  const reps = QUICK ? 2 : 3
  log(`allocating ${K} × ${N / 1e6} M + output on SharedArrayBuffers (${(((K + 1) * N * 4) / 2 ** 30).toFixed(2)} GiB)`)
  const pool = Array.from({ length: K }, (_, i) => sharedFloat32(N).fill(0.001 * (i + 1)))
  const out = sharedFloat32(N).fill(0)
  const base = pool[0], models = pool.slice(1)
  const taBytes = (K + 1) * N * 4 // K arrays read + 1 written

  // memcpy ceiling: read + write counted, the same convention as the streaming figure
  const cp = best(reps + 1, () => { out.set(pool[1]) })
  const memcpy = (2 * N * 4) / cp / 1e9
  rows.push({ group: 'stream', what: `memcpy ${((N * 4) / 2 ** 20).toFixed(0)} MiB (Float32Array.set)`, impl: 'ceiling', value: memcpy, unit: 'GB/s' })

  const what = `θ0 + λΣ(θi − θ0), ${K} × ${N / 1e6} M`
  const threads = availableParallelism()
  const kimpls = availableKernelImplementations()
  for (const impl of kimpls) {
    useKernelImplementation(impl)
    for (const th of impl === 'native' ? [1, threads] : [1]) {
      setKernelThreads(th)
      const t = best(reps, () => { taskArithmeticInto(out, base, models, 0.3) })
      rows.push({ group: 'stream', what, impl: `${impl === 'native' ? 'addon C++' : 'JS'}, ${th} thread${th > 1 ? 's' : ''}`, value: taBytes / t / 1e9, unit: 'GB/s', ceiling: memcpy })
      log(`${what} ${impl} ${th}: ${(taBytes / t / 1e9).toFixed(2)} GB/s`)
    }
  }
  setKernelThreads(1)
  useKernelImplementation('auto')
  const kp = new KernelPool(threads)
  await kp.run('taskArithmetic', { out, base, models, lambda: 0.3 }) // start workers
  const tp = await bestAsync(reps, () => kp.run('taskArithmetic', { out, base, models, lambda: 0.3 }))
  rows.push({ group: 'stream', what, impl: `JS, ${threads} worker_threads`, value: taBytes / tp / 1e9, unit: 'GB/s', ceiling: memcpy })
  await kp.close()
  log(`${what} JS workers: ${(taBytes / tp / 1e9).toFixed(2)} GB/s, memcpy ${memcpy.toFixed(2)} GB/s`)

  // exact k-th magnitude (top 20 %) over one 88 M tensor: two histogram passes
  const x = pool[1]
  for (let i = 0; i < N; i += 7) x[i] = (i % 1000) * 1e-3 - 0.5
  for (const impl of kimpls) {
    useKernelImplementation(impl)
    const tk = best(2, () => { kthSmallestAbs(x, Math.floor(N * 0.8)) })
    rows.push({ group: 'stream', what: `k-th |v| (radix select) over ${N / 1e6} M`, impl: impl === 'native' ? 'addon C++' : 'JS', value: (2 * N * 4) / tk / 1e9, unit: 'GB/s', ceiling: memcpy / 2, note: `${(tk * 1000).toFixed(0)} ms; 2 read passes (ceiling = read-only half of memcpy)` })
  }
  useKernelImplementation('auto')
  const g = new TorchGenerator(0)
  const tr = best(1, () => { g.fillRandFloat32(x) })
  rows.push({ group: 'stream', what: `torch.rand float32 (MT19937) ${N / 1e6} M`, impl: '1 thread', value: N / tr / 1e6, unit: 'M/s', note: `${(tr * 1000).toFixed(0)} ms` })
}

// ------------------------------------------------------------------------------------------ print
const info = linalgInfo()
const fmt = (v: number | null, unit: string): string => v === null ? '–' : unit === 's' ? v.toFixed(3) : v.toFixed(unit === 'M/s' ? 0 : 2)
const table: string[][] = [['group', 'operation', 'implementation', 'result', 'unit', 'ceiling', '% of ceiling', 'note']]
for (const r of rows) {
  if (r.ofPeak && sgemmPeak > 0) r.ceiling = sgemmPeak
  table.push([r.group, r.what, r.impl, fmt(r.value, r.unit), r.unit, r.ceiling ? r.ceiling.toFixed(2) : '', r.ceiling && r.value !== null ? `${((100 * r.value) / r.ceiling).toFixed(0)} %` : '', r.note ?? ''])
}
const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)))
console.log(`\nAmalgam engine benchmark — ${new Date().toISOString()} — node ${process.version}, ${availableParallelism()} cores`)
console.log(`native linear algebra: ${info.native ? `${info.blas ?? 'on'}, ${info.threads} threads` : `off (${info.reason})`}; sgemm peak (best addon sgemm of the run: 1024³, 2048³, 3072³ and the shapes below) = ${sgemmPeak.toFixed(1)} GFLOP/s`)
console.log('GEMM ceiling = addon sgemm peak (goal ≥ 70 %); streaming ceiling = memcpy read+write bandwidth (goal ≥ 50 %)\n')
for (const r of table) console.log(r.map((cell, c) => (c >= 3 && c <= 6 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd())
process.exit(0) // TF.js keeps handles alive
