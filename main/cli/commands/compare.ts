import type { Command } from '../main'
import { parse } from '../args'
import { pct, table } from '../format'
import { cliCtx, openServices, workspaceOption } from '../services'
import { AmalgamError } from '#common/errors'

const cmd: Command = {
  summary: 'compare experiments side by side: per-task accuracy, Avg, #best, parameter differences',
  usage: 'amalgam compare ID ID … [--workspace DIR] [--reference] [--json]',
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...workspaceOption, reference: { type: 'boolean' }, json: { type: 'boolean' } })
    if (positionals.length < 1) throw new AmalgamError('BAD_REQUEST', 'compare needs at least one experiment id')
    const { services } = await openServices(values.workspace, io, { quiet: true, create: false })
    try {
      const t = await services['experiments.compare']({ ids: positionals, reference: values.reference }, cliCtx)
      if (values.json) { io.out(JSON.stringify(t, null, 2)); return }
      const rows = [
        ...(t.reference ?? []).map((r) => [r.name, ...t.tasks.map((k) => pct(r.accuracy[k])), pct(r.average), r.normalized == null ? '–' : pct(r.normalized), '']),
        ...t.rows.map((r) => [`${r.name} (${r.id})`, ...t.tasks.map((k) => `${pct(r.accuracy[k])}${t.bestPerTask[k] === r.id ? '*' : ' '}`), pct(r.average), pct(r.normalized), String(r.best)]),
      ]
      io.out(table(['experiment', ...t.tasks, 'Avg', 'Norm', '#best'], rows))
      if (t.paramDiff.length) {
        io.out('\nDifferences (recipe):')
        io.out(table(['key', ...t.rows.map((r) => r.id)], t.paramDiff.map((d) => [d.key, ...t.rows.map((r) => JSON.stringify(d.values[r.id] ?? null))]), { align: ['l', ...t.rows.map(() => 'l' as const)] }))
      }
    } finally { await services.close() }
  },
}
export default cmd
