import type { Command } from '../main'
import { parse } from '../args'
import { bytes, count, table } from '../format'

const cmd: Command = {
  summary: 'show a safetensors file or Hugging Face folder: format, dtypes, tensors, parameters, shards, config',
  usage: 'amalgam inspect DIR_OR_FILE [--json] [--tensors]',
  async run(argv, io) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' }, tensors: { type: 'boolean' } })
    if (positionals.length !== 1) throw new (await import('#common/errors')).AmalgamError('BAD_REQUEST', 'inspect takes exactly one path')
    const { inspectCheckpoint } = await import('../../engine/checkpoints/inspect')
    const info = await inspectCheckpoint(positionals[0], { tensors: values.tensors || values.json })
    if (values.json) { io.out(JSON.stringify(info, null, 2)); return }
    const rows: string[][] = [
      ['path', info.path], ['format', info.format], ['files', String(info.files.length)], ['shards', String(info.shards)],
      ['tensors', count(info.tensorCount)], ['parameters', count(info.parameterCount)], ['bytes', `${count(info.bytes)} (${bytes(info.bytes)})`],
      ['dtypes', Object.entries(info.dtypes).map(([d, n]) => `${d}×${n}`).join(', ')],
    ]
    if (info.config) {
      rows.push(['architecture', (info.config.architectures ?? []).join(', ') || '–'], ['model_type', info.config.modelType ?? '–'], ['config dtype', info.config.dtype ?? '–'])
      if (info.config.hiddenSize) rows.push(['hidden / layers', `${info.config.hiddenSize} / ${info.config.layers ?? '?'}`])
    }
    io.out(table(['field', 'value'], rows, { align: ['l', 'l'] }))
    if (values.tensors && info.tensors) {
      io.out('')
      io.out(table(['tensor', 'dtype', 'shape', 'bytes'], info.tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`, count(t.bytes)]), { align: ['l', 'l', 'l', 'r'] }))
    }
  },
}
export default cmd
