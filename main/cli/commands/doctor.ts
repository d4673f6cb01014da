import type { Command } from '../main'
import { parse } from '../args'
import { bytes, table } from '../format'

const cmd: Command = {
  summary: 'report the runtime: Node, tensor backend, native BLAS/LAPACK, threads, GPU',
  usage: 'amalgam doctor [--json] [--backend tensorflow|wasm|cpu]',
  async run(argv, io) {
    const { values } = parse(argv, { json: { type: 'boolean' }, backend: { type: 'string' } }, false)
    const { initTensorBackend, backendReport } = await import('../../engine/backends/select')
    const short = (x: string) => (x.length > 110 ? x.slice(0, 107) + '…' : x)
    const tb = await initTensorBackend({ prefer: values.backend as 'tensorflow' | 'wasm' | 'cpu' | undefined, log: () => {} })
    const r = backendReport()
    if (values.json) { io.out(JSON.stringify({ ...r, skipped: tb.skipped }, null, 2)); return }
    io.out(table(['component', 'status'], [
      ['amalgam', r.version],
      ['node', `${r.node} (${r.platform})`],
      ['tensor backend', `${r.tensorBackend} (${tb.reason.split(';')[0]})`],
      ...tb.skipped.map((k) => [`  skipped ${k.option}`, short(k.reason.replace(/\s+/g, ' '))]),
      ['wasm simd / threads', r.wasmSimd === undefined ? '–' : `${r.wasmSimd ? 'yes' : 'no'} / ${r.wasmThreads ?? 1}`],
      ['gpu', r.gpu ?? 'none'],
      ['native linear algebra', r.native.loaded ? `on (${r.native.blas ?? 'BLAS'}, ${r.native.threads ?? '?'} threads)` : `off — ${r.native.reason ?? 'not built'}`],
      ['cpu threads', String(r.threads)],
      ['memory', `${bytes(r.memory.totalBytes)} total, ${bytes(r.memory.rssBytes)} used by this process`],
    ], { align: ['l', 'l'] }))
  },
}
export default cmd
