import { resolve } from 'node:path'
import type { Command } from '../main'
import { parse } from '../args'
import { pct } from '../format'
import { cliCtx, openServices, workspaceOption } from '../services'

const cmd: Command = {
  summary: 'run an experiment from a recipe (Amalgam YAML or mergekit YAML) in a workspace and wait for it',
  usage: 'amalgam run RECIPE.yaml [--workspace DIR] [--tag T …] [--benchmark mini8] [--json]',
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...workspaceOption, tag: { type: 'string', multiple: true }, benchmark: { type: 'string' }, json: { type: 'boolean' } })
    if (positionals.length !== 1) throw new (await import('#common/errors')).AmalgamError('BAD_REQUEST', 'run takes one recipe file')
    const { services, endProgress } = await openServices(values.workspace, io, { quiet: values.json })
    try {
      const r = await services.runRecipeFile(resolve(positionals[0]), { tags: values.tag, pool: { benchmark: values.benchmark } })
      for (const w of r.warnings) io.err(`warning: ${w}`)
      const outcome = await services.waitJob(r.jobId)
      endProgress()
      const rec = await services['experiments.get']({ id: r.experimentId }, cliCtx)
      if (values.json) io.out(JSON.stringify({ ...rec, recipe: undefined }, null, 2))
      else io.out(`${rec.id} ${rec.method}: ${outcome.status}${rec.average != null ? `, avg ${pct(rec.average)}${rec.normalized != null ? `, normalized ${pct(rec.normalized)}` : ''}` : ''}${outcome.error ? ` — ${outcome.error.message}` : ''}`)
      return outcome.status === 'done' ? 0 : 1
    } finally { await services.close() }
  },
}
export default cmd
