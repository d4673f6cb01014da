import { join, resolve } from 'node:path'
import type { FloatOutDType } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { Command } from '../main'
import { intOpt, parse, requireOpt } from '../args'
import { cliCtx, openServices, workspaceOption } from '../services'

const cmd: Command = {
  summary: 'export an experiment\'s merged model as a Hugging Face folder (atomic); per-task methods: DIR/<task>/ each, or one with --task',
  usage: 'amalgam export ID --out DIR [--task NAME] [--dtype f32|bf16|f16] [--shard-size BYTES] [--workspace DIR] [--json]',
  async run(argv, io) {
    const { values, positionals } = parse(argv, { ...workspaceOption, out: { type: 'string' }, task: { type: 'string' }, dtype: { type: 'string' }, 'shard-size': { type: 'string' }, json: { type: 'boolean' } })
    if (positionals.length !== 1) throw new AmalgamError('BAD_REQUEST', 'export takes one experiment id')
    if (values.dtype && !['f32', 'bf16', 'f16'].includes(values.dtype)) throw new AmalgamError('BAD_REQUEST', '--dtype must be f32, bf16 or f16')
    const { services, endProgress } = await openServices(values.workspace, io, { quiet: values.json, create: false })
    try {
      const out = resolve(requireOpt(values.out, 'out'))
      const { jobId } = await services['experiments.export']({ id: positionals[0], out, dtype: values.dtype as FloatOutDType | undefined, shardBytes: intOpt(values['shard-size'], 'shard-size'), task: values.task }, cliCtx)
      const r = await services.waitJob(jobId)
      endProgress()
      if (r.status !== 'done') throw new AmalgamError('IO', `export ${r.status}${r.error ? `: ${r.error.message}` : ''}`)
      // a per-task export of all tasks leaves a manifest naming each task's folder
      const { readPerTaskManifest } = await import('../../engine/checkpoints/folder-set')
      const tasks = (await readPerTaskManifest(out))?.tasks ?? null
      if (values.json) io.out(JSON.stringify({ out, status: r.status, ...(tasks ? { tasks: tasks.map((t) => ({ task: t.task, dir: join(out, t.dir) })) } : {}), ...(values.task ? { task: values.task } : {}) }, null, 2))
      else if (tasks) io.out([`exported ${tasks.length} task models of ${positionals[0]} to ${out}:`, ...tasks.map((t) => `  ${t.task}\t${join(out, t.dir)}`)].join('\n'))
      else io.out(`exported ${values.task ? `task ${values.task} of ` : ''}${positionals[0]} to ${out}`)
    } finally { await services.close() }
  },
}
export default cmd
