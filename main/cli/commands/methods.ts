import type { Command } from '../main'
import { parse } from '../args'
import { table } from '../format'

const cmd: Command = {
  summary: 'list the merging methods and their parameters',
  usage: 'amalgam methods [NAME] [--json]',
  async run(argv, io) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } })
    const { listMethods, getMethod } = await import('../../engine/merge/registry')
    const infos = positionals.length ? positionals.map((n) => getMethod(n).info) : listMethods()
    if (values.json) { io.out(JSON.stringify(infos, null, 2)); return }
    if (positionals.length) {
      for (const m of infos) {
        io.out(`${m.name} — ${m.title} (${m.family})\n${m.description}\nCitation: ${m.citation}\n`)
        io.out(table(['parameter', 'type', 'default', 'range', 'description'], m.params.map((p) => [
          p.name, p.type, JSON.stringify(p.default),
          p.choices ? p.choices.join('|') : p.min !== undefined || p.max !== undefined ? `[${p.min ?? '-∞'}, ${p.max ?? '∞'}]` : '', p.description,
        ]), { align: ['l', 'l', 'l', 'l', 'l'] }))
      }
      return
    }
    io.out(table(['method', 'family', 'title', 'parameters'], infos.map((m) => [m.name, m.family, m.title, m.params.map((p) => p.name).join(', ')]), { align: ['l', 'l', 'l', 'l'] }))
  },
}
export default cmd
