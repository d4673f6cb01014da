// npm run bench:merge-data — LOT Merging's linear algebra on a ViT-B/32-sized pool (D = 768,
// 12 blocks, 8 tasks) with synthetic activations: per task 64 exemplars × 50 tokens of random
// features for every linear unit. Measures the three stages LOT spends its time in — Grams
// (XᵀX, float64), accumulation (Σ τ_k G_k, Σ G_k) and the pseudo-inverse solve (eigh + two
// products per unit; q/k/v share one eigendecomposition) — beside the physical ceiling: the FLOP
// count at this machine's measured float64 GEMM rate. The model forward (feature capture in TF.js)
// is not included: it is measured by the mini-8 bench rows.
//   tsx bench/merge-data.ts              all 12 blocks (≈ 5 TFLOP; minutes on 2 cores)
//   tsx bench/merge-data.ts --layers 1   one block, ×12 for the full model
import { matmul, mat64, linalgInfo, type Mat64 } from '../main/engine/linalg/index'
import { addGram } from '../main/engine/model/capture'
import { applyRightPinv, pinvFactor } from '../main/engine/merge/methods/_data-linalg'

const argv = process.argv.slice(2)
const arg = (k: string): string | undefined => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined }
const LAYERS = Number(arg('--layers') ?? 12)
const N = 8, D = 768, I = 4 * D, ROWS = 64 * 50

function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = (seed * 2654435761 + 12345) >>> 0
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; const u = s / 4294967296; s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = (u + s / 4294967296 - 1) * scale }
  return out
}

function gemmRate(): number {
  const n = 1024
  const a = mat64(n, n, Float64Array.from(randn(n * n, 1))), b = mat64(n, n, Float64Array.from(randn(n * n, 2)))
  matmul(a, b)
  const t0 = performance.now()
  for (let r = 0; r < 3; r++) matmul(a, b)
  return (3 * 2 * n ** 3) / ((performance.now() - t0) / 1000)
}

interface Stage { seconds: number; flop: number }
const stages: Record<string, Stage> = { gram: { seconds: 0, flop: 0 }, accumulate: { seconds: 0, flop: 0 }, solve: { seconds: 0, flop: 0 } }
const time = async <T>(k: string, flop: number, f: () => Promise<T> | T): Promise<T> => {
  const t0 = performance.now(); const r = await f(); stages[k].seconds += (performance.now() - t0) / 1000; stages[k].flop += flop; return r
}

async function main(): Promise<void> {
  const rate = gemmRate()
  console.log(`linalg: ${JSON.stringify(linalgInfo())}; float64 GEMM ${(rate / 1e9).toFixed(1)} GFLOP/s (1024³)`)
  // per block: one Gram group for q/k/v (3 weights), out_proj, fc1 (in D) and fc2 (in 4D)
  const groups: Array<{ in: number; outs: number[] }> = [{ in: D, outs: [D, D, D] }, { in: D, outs: [D] }, { in: D, outs: [I] }, { in: I, outs: [D] }]
  const t0 = performance.now()
  for (let l = 0; l < LAYERS; l++) {
    for (const [gi, g] of groups.entries()) {
      const S = mat64(g.in, g.in)
      const A = g.outs.map((o) => mat64(o, g.in))
      for (let k = 0; k < N; k++) {
        const X = randn(ROWS * g.in, 1000 * l + 10 * gi + k)
        const G = new Float64Array(g.in * g.in)
        await time('gram', 2 * ROWS * g.in * g.in, () => addGram(G, X, ROWS, g.in))
        await time('accumulate', g.outs.reduce((s, o) => s + 2 * o * g.in * g.in, 0), async () => {
          for (let i = 0; i < G.length; i++) S.data[i] += G[i]
          for (const [j, o] of g.outs.entries()) {
            const tau = mat64(o, g.in, Float64Array.from(randn(o * g.in, 7 + j + k, 0.01)))
            const tG = matmul(tau, mat64(g.in, g.in, G)).data
            for (let i = 0; i < tG.length; i++) A[j].data[i] += tG[i]
          }
        })
      }
      // eigh ≈ 9n³ (dsyevd with vectors) + 2 products out·in·r each
      await time('solve', 9 * g.in ** 3 + g.outs.reduce((s, o) => s + 4 * o * g.in * g.in, 0), async () => {
        const f = await pinvFactor(S)
        for (const a of A) await applyRightPinv(a as Mat64, f)
      })
    }
    process.stdout.write(`block ${l + 1}/${LAYERS} ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
  }
  const scale = 12 / LAYERS
  console.log(`\nLOT on a ViT-B/32-sized pool, ${N} tasks, ${ROWS} feature rows per task and unit, ${LAYERS} block(s) measured${LAYERS !== 12 ? ` (full model = ×${scale})` : ''}\n`)
  console.log('| stage | seconds | GFLOP | ceiling (GFLOP at measured GEMM rate) | ratio | full B/32 estimate (s) |')
  console.log('|---|---|---|---|---|---|')
  let tot = 0, totC = 0
  for (const [k, s] of Object.entries(stages)) {
    const ceil = s.flop / rate
    tot += s.seconds; totC += ceil
    console.log(`| ${k} | ${s.seconds.toFixed(2)} | ${(s.flop / 1e9).toFixed(0)} | ${ceil.toFixed(2)} | ${(s.seconds / ceil).toFixed(2)}× | ${(s.seconds * scale).toFixed(1)} |`)
  }
  console.log(`| total | ${tot.toFixed(2)} | | ${totC.toFixed(2)} | ${(tot / totC).toFixed(2)}× | ${(tot * scale).toFixed(1)} |`)
}

main().catch((e) => { console.error(e); process.exit(1) })
