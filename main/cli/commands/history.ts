import type { ExperimentStatus, HistoryQuery } from '#common/types'
import type { Command } from '../main'
import { intOpt, parse } from '../args'
import { pct, table } from '../format'
import { cliCtx, openServices, workspaceOption } from '../services'

const cmd: Command = {
  summary: 'list the experiments of a workspace (filter, sort, search)',
  usage: 'amalgam history [--workspace DIR] [--filter TEXT] [--method NAME] [--status S] [--tag T] [--starred] [--sort FIELD] [--asc] [--limit N] [--recipe ID] [--json]',
  async run(argv, io) {
    const { values } = parse(argv, {
      ...workspaceOption, filter: { type: 'string' }, method: { type: 'string' }, status: { type: 'string' }, tag: { type: 'string' },
      starred: { type: 'boolean' }, sort: { type: 'string' }, asc: { type: 'boolean' }, limit: { type: 'string' }, recipe: { type: 'string' }, json: { type: 'boolean' },
    }, false)
    const { services } = await openServices(values.workspace, io, { quiet: true, create: false })
    try {
      if (values.recipe) { io.out(await services.recipeOf(values.recipe)); return }
      const q: HistoryQuery = {
        search: values.filter, method: values.method, status: values.status as ExperimentStatus | undefined, tag: values.tag,
        starred: values.starred || undefined, sort: values.sort, desc: !values.asc, limit: intOpt(values.limit, 'limit') ?? 50,
      }
      const r = await services['experiments.list'](q, cliCtx)
      if (values.json) { io.out(JSON.stringify(r, null, 2)); return }
      io.out(table(['id', 'name', 'method', 'status', 'avg', 'norm', 'sec', 'created', 'tags'], r.rows.map((e) => [
        e.id, e.name.slice(0, 40), e.method, e.status, pct(e.average), pct(e.normalized), e.durationMs != null ? (e.durationMs / 1000).toFixed(1) : '', e.createdAt.slice(0, 19).replace('T', ' '), `${e.starred ? '★ ' : ''}${e.tags.join(',')}`,
      ]), { align: ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'l', 'l'] }))
      io.out(`${r.rows.length} of ${r.total} experiment(s)`)
    } finally { await services.close() }
  },
}
export default cmd
