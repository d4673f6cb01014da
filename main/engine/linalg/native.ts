// Loads the OpenBLAS/LAPACKE addon (native/build/Release/amalgam_linalg.node) and adapts it to
// LinalgImpl. Any failure is captured as a reason string: the engine then runs on the fallback
// and `linalgInfo()` / `amalgam doctor` say why.
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { EighRaw, LinalgImpl, QrRaw, SvdRaw } from './impl'

/** The addon's exports (linear algebra + the streaming kernels used by main/engine/kernels). */
export interface Addon {
  sgemm(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Float32Array
  dgemm(a: Float64Array, b: Float64Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Float64Array
  dsyevd(a: Float64Array, n: number): EighRaw
  dgesdd(a: Float64Array, m: number, n: number): SvdRaw
  dcholsolve(a: Float64Array, n: number, b: Float64Array, nrhs: number): Float64Array | null
  dqr(a: Float64Array, m: number, n: number): QrRaw
  sgemmAsync(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Promise<Float32Array>
  dgemmAsync(a: Float64Array, b: Float64Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Promise<Float64Array>
  dsyevdAsync(a: Float64Array, n: number): Promise<EighRaw>
  dgesddAsync(a: Float64Array, m: number, n: number): Promise<SvdRaw>
  setThreads(n: number): void
  getThreads(): number
  blasConfig(): string
  streamTaskArithmetic(out: Float32Array, base: Float32Array, models: readonly Float32Array[], lambda: number, threads: number): void
  streamWeightedSum(out: Float32Array, arrays: readonly Float32Array[], weights: Float64Array, accumulate: boolean, threads: number): void
  absHistHigh(chunk: Float32Array, hist: Uint32Array): number
  absHistLow(chunk: Float32Array, hist: Uint32Array, high: number): void
  firstNonFinite(data: Float32Array): number
  absHistFine(chunks: Float32Array[], hists: Uint32Array[], base: Float32Array | null, threads: number): Float64Array
  tiesMerge(
    out: Float32Array, base: Float32Array, vs: Float32Array[], fromModels: boolean, lo: Float32Array, hi: Float32Array,
    lambda: number, mean: boolean, kept: Float64Array, threads: number, counts?: Float64Array | null, gather?: boolean,
  ): { balance: number; deferred: Uint32Array; zero: Uint32Array; held?: { idx: Uint32Array; base: Float32Array; vals: Float32Array }; band?: Float32Array[] }
  /** absHistFine over segments [offsets[g], offsets[g+1]) of each chunk, segment g of chunk t into hists[t·G + g]; NaN counts per (t, g). */
  absHistSegments(chunks: Float32Array[], base: Float32Array | null, offsets: Uint32Array, hists: Uint32Array[], threads: number): Float64Array
  /** Writes bytes[i·size …] at file offset + index[i]·size (index ascending) through a shared mapping of the stretch. */
  patchMapped(fd: number, offset: number, size: number, index: Uint32Array, bytes: Uint8Array): void
  /** The block sample (tensors/block-sample.ts) of n F32 (dtype 0) or BF16 (1) values at file offset `offset`, through a read-only mapping. */
  sampleMapped(fd: number, offset: number, dtype: number, n: number, block: number, runs: number, run: number, seed: number, out: Float32Array): void
  /** DogeTA: e[j·rows + o] = c[j·rows + o] − Λ⟨V_j[o], δ[o]⟩, out[o,:] = −2Λ Σ_j e_{j,o} V_j[o,:] (out null: residuals only); returns Σ_o Σ_j e². */
  dogeGradient(
    V: readonly Float32Array[], delta: Float32Array, c: Float64Array, out: Float32Array | null,
    rows: number, cols: number, Lambda: number, e: Float64Array, threads: number,
  ): number
  /** One float32 PyTorch Adam step on param with the gradient float(g − p) (p null: g); m, v updated in place. */
  adamStep(
    param: Float32Array, g: Float32Array, p: Float32Array | null, m: Float32Array, v: Float32Array,
    stepSize: number, bc2s: number, w1: number, w2: number, b2: number, eps: number, threads: number,
  ): void
  /** param ← float(param − lr · float(g − p)) (p null: g). */
  sgdStep(param: Float32Array, g: Float32Array, p: Float32Array | null, lr: number, threads: number): void
  /** sgemm into the caller's c (m×n, overwritten): the same BLAS call as sgemm, without a new array. */
  sgemmInto(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): void
}

const ADDON_REL = join('native', 'build', 'Release', 'amalgam_linalg.node')

/** Where the addon may live: explicit override, then the package root above this file, then cwd. */
function candidates(): string[] {
  const out: string[] = []
  if (process.env.AMALGAM_NATIVE_PATH) out.push(resolve(process.env.AMALGAM_NATIVE_PATH))
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) { out.push(join(dir, ADDON_REL)); const up = dirname(dir); if (up === dir) break; dir = up }
  out.push(join(process.cwd(), ADDON_REL))
  return [...new Set(out)]
}

export interface NativeLoad { impl: LinalgImpl | null; addon?: Addon; reason?: string; blas?: string; path?: string }

let cached: NativeLoad | undefined

/** loadNative() once per process, honouring AMALGAM_NATIVE=0. */
export function nativeLoad(): NativeLoad {
  if (!cached) {
    cached = process.env.AMALGAM_NATIVE === '0' ? { impl: null, reason: 'disabled by AMALGAM_NATIVE=0' } : loadNative()
  }
  return cached
}

export function loadNative(): NativeLoad {
  const found = candidates().find((p) => existsSync(p))
  if (!found) return { impl: null, reason: `addon not built (${ADDON_REL} not found; run npm run build:native)` }
  let addon: Addon
  try {
    addon = createRequire(import.meta.url)(found) as Addon
  } catch (e) {
    return { impl: null, reason: `addon at ${found} failed to load: ${e instanceof Error ? e.message : String(e)}`, path: found }
  }
  const impl: LinalgImpl = {
    name: 'native',
    sgemm: (a, b, m, n, k, ta, tb) => addon.sgemm(a, b, m, n, k, ta, tb),
    dgemm: (a, b, m, n, k, ta, tb) => addon.dgemm(a, b, m, n, k, ta, tb),
    eigh: (a, n) => addon.dsyevd(a, n),
    svd: (a, m, n) => addon.dgesdd(a, m, n),
    cholSolve: (a, n, b, nrhs) => addon.dcholsolve(a, n, b, nrhs),
    qr: (a, m, n) => addon.dqr(a, m, n),
    async: {
      sgemm: (a, b, m, n, k, ta, tb) => addon.sgemmAsync(a, b, m, n, k, ta, tb),
      dgemm: (a, b, m, n, k, ta, tb) => addon.dgemmAsync(a, b, m, n, k, ta, tb),
      eigh: (a, n) => addon.dsyevdAsync(a, n),
      svd: (a, m, n) => addon.dgesddAsync(a, m, n),
    },
    threads: () => addon.getThreads(),
    setThreads: (n) => addon.setThreads(n),
  }
  let blas: string | undefined
  try { blas = addon.blasConfig() } catch { blas = undefined }
  return { impl, addon, blas, path: found }
}
