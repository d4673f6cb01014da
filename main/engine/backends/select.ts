// Chooses the TF.js backend once per process and hands every caller the same tf instance.
// Order: AMALGAM_TF_BACKEND override → opts.prefer → tensorflow (tfjs-node-gpu, then tfjs-node)
// → wasm (SIMD) → cpu. Each skipped option is recorded with its reason and logged once.
import { createRequire } from 'node:module'
import { existsSync, readFileSync } from 'node:fs'
import { availableParallelism, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type * as TfModule from '@tensorflow/tfjs'
import type { BackendReport } from '#common/types'
import { AmalgamError } from '#common/errors'
import { linalgInfo } from '../linalg/index'
import { applyTfjsNodeShim } from './tfjs-node-shim'

export type Tf = typeof TfModule
export type TensorBackendName = 'tensorflow' | 'wasm' | 'cpu'

export interface TensorBackendReport {
  backend: TensorBackendName
  /** why this backend (override, preference, or first that worked) */
  reason: string
  /** the npm package providing it */
  package: string
  /** options tried before it, with the reason each was skipped */
  skipped: { option: string; reason: string }[]
  wasmSimd?: boolean
  wasmThreads?: number
  /** tfjs-node-gpu loaded: GPU use is not verified in-process (libtensorflow may fall back to CPU) */
  gpu: string | null
  seconds: number
}

export interface InitOptions {
  prefer?: TensorBackendName
  /** where the one-time selection line goes (default stderr) */
  log?: (line: string) => void
}

const require = createRequire(import.meta.url)
const NAMES: readonly TensorBackendName[] = ['tensorflow', 'wasm', 'cpu']

let tf: Tf | undefined
let report: TensorBackendReport | undefined
let pending: Promise<TensorBackendReport> | undefined

function message(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e)
  return s.split('\n')[0].slice(0, 300)
}

type Attempt = { ok: true; tf: Tf; package: string; extra?: Partial<TensorBackendReport> } | { ok: false; reason: string }

async function tryTensorflow(skipped: TensorBackendReport['skipped']): Promise<Attempt> {
  applyTfjsNodeShim()
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      const mod = (await import(/* @vite-ignore */ pkg)) as Tf & { default?: Tf }
      const t = (mod.default && typeof mod.default.setBackend === 'function' ? mod.default : mod) as Tf
      if (!(await t.setBackend('tensorflow'))) throw new Error('setBackend("tensorflow") returned false')
      await t.ready()
      return { ok: true, tf: t, package: pkg, extra: { gpu: pkg.endsWith('-gpu') ? 'tfjs-node-gpu loaded (GPU use unverified: libtensorflow 2.9.1 needs CUDA 11.2 / cuDNN 8.1)' : null } }
    } catch (e) {
      skipped.push({ option: `tensorflow (${pkg})`, reason: message(e) })
    }
  }
  return { ok: false, reason: 'no tfjs-node package loaded' }
}

async function tryWasm(): Promise<Attempt> {
  try {
    const t = (await import('@tensorflow/tfjs')) as Tf
    const wasm = await import('@tensorflow/tfjs-backend-wasm')
    const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/'
    if (!existsSync(join(dist, 'tfjs-backend-wasm-simd.wasm'))) throw new Error(`wasm binaries not found in ${dist}`)
    wasm.setWasmPaths(dist)
    if (!(await t.setBackend('wasm'))) throw new Error('setBackend("wasm") returned false')
    await t.ready()
    const simd = Boolean(await t.env().getAsync('WASM_HAS_SIMD_SUPPORT'))
    // TF.js disables wasm threads under Node (tfjs#3830): one thread unless that is patched
    const mt = Boolean(await t.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'))
    const threads = mt ? wasm.getThreadsCount() : 1
    return { ok: true, tf: t, package: '@tensorflow/tfjs-backend-wasm', extra: { wasmSimd: simd, wasmThreads: threads } }
  } catch (e) {
    return { ok: false, reason: message(e) }
  }
}

async function tryCpu(): Promise<Attempt> {
  try {
    const t = (await import('@tensorflow/tfjs')) as Tf
    if (!(await t.setBackend('cpu'))) throw new Error('setBackend("cpu") returned false')
    await t.ready()
    return { ok: true, tf: t, package: '@tensorflow/tfjs-backend-cpu' }
  } catch (e) {
    return { ok: false, reason: message(e) }
  }
}

function parseName(v: string | undefined, what: string): TensorBackendName | undefined {
  if (v === undefined || v === '') return undefined
  if ((NAMES as readonly string[]).includes(v)) return v as TensorBackendName
  throw new AmalgamError('BAD_PARAM', `${what} = '${v}' is not a TF.js backend (tensorflow | wasm | cpu)`)
}

async function select(opts: InitOptions): Promise<TensorBackendReport> {
  const t0 = performance.now()
  const override = parseName(process.env.AMALGAM_TF_BACKEND, 'AMALGAM_TF_BACKEND')
  const prefer = parseName(opts.prefer, 'prefer')
  const first = override ?? prefer
  const order: TensorBackendName[] = first ? [first, ...NAMES.filter((n) => n !== first)] : [...NAMES]
  const skipped: TensorBackendReport['skipped'] = []
  for (const name of order) {
    const attempt = name === 'tensorflow' ? await tryTensorflow(skipped) : name === 'wasm' ? await tryWasm() : await tryCpu()
    if (!attempt.ok) {
      if (name !== 'tensorflow') skipped.push({ option: name, reason: attempt.reason })
      continue
    }
    tf = attempt.tf
    const why = name === override ? 'AMALGAM_TF_BACKEND override'
      : name === prefer ? 'preferred by the caller'
      : skipped.length ? 'first available' : 'first choice'
    const r: TensorBackendReport = {
      backend: name, reason: why, package: attempt.package, skipped, gpu: null,
      seconds: (performance.now() - t0) / 1000, ...attempt.extra,
    }
    // one short line: the full reasons are in the report (amalgam doctor --json)
    const firstSentence = (x: string) => { const t = x.replace(/\s+/g, ' ').split(/(?<=\.) |: \//)[0]; return t.length > 70 ? `${t.slice(0, 67)}…` : t }
    const skippedText = skipped.map((s) => `${s.option} (${firstSentence(s.reason)})`).join(', ')
    // stderr, never stdout: `--json` output must stay the only thing on stdout
    ;(opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(`[amalgam] TF.js backend: ${name} (${why})${r.wasmSimd !== undefined ? `, simd ${r.wasmSimd ? 'on' : 'off'}, ${r.wasmThreads} thread(s)` : ''}${skippedText ? ` — skipped ${skippedText}` : ''}`)
    return r
  }
  throw new AmalgamError('INTERNAL', `no TF.js backend could start: ${skipped.map((s) => `${s.option}: ${s.reason}`).join('; ')}`)
}

/**
 * Initialises TF.js once; later calls return the same report. A later call whose `prefer`
 * names a different backend re-runs the selection with that preference.
 */
export async function initTensorBackend(opts: InitOptions = {}): Promise<TensorBackendReport> {
  if (report && (!opts.prefer || opts.prefer === report.backend || process.env.AMALGAM_TF_BACKEND)) return report
  if (pending && !opts.prefer) return pending
  const p = select(opts).then((r) => { report = r; return r })
  pending = p
  try { return await p } finally { if (pending === p) pending = undefined }
}

/** The initialised TF.js module (one instance for the whole engine). */
export function getTf(): Tf {
  if (!tf) throw new AmalgamError('INTERNAL', 'TF.js is not initialised: await initTensorBackend() first')
  return tf
}

export function tensorBackendReport(): TensorBackendReport | undefined { return report }

function appVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json')
    if (existsSync(p)) {
      try { const j = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string }; if (j.name === 'amalgam' && j.version) return j.version } catch { /* keep looking */ }
    }
    const up = dirname(dir); if (up === dir) break; dir = up
  }
  return 'unknown'
}

/** Runtime summary for `amalgam doctor` and engine.status. */
export function backendReport(): BackendReport {
  const li = linalgInfo()
  return {
    version: appVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    tensorBackend: report?.backend ?? 'none',
    tensorBackendReason: report ? `${report.reason}${report.skipped.length ? `; skipped ${report.skipped.map((s) => `${s.option}: ${s.reason}`).join('; ')}` : ''}` : 'initTensorBackend() has not run',
    wasmSimd: report?.wasmSimd,
    wasmThreads: report?.wasmThreads,
    gpu: report?.gpu ?? null,
    native: { loaded: li.native, reason: li.reason, blas: li.blas, threads: li.threads },
    threads: availableParallelism(),
    memory: { totalBytes: totalmem(), rssBytes: process.memoryUsage().rss },
  }
}
