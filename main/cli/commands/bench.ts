import { writeFileAtomic } from '../../engine/util/atomic'
import type { Command } from '../main'
import { join } from 'node:path'
import type { BenchRow } from '#common/types'
import type { Ta8Model } from '../../engine/clip/ta8'
import { intOpt, parse, parseScopedSets } from '../args'
import { benchTable } from '../bench-table'
import { AmalgamError, toWireError } from '#common/errors'

const cmd: Command = {
  summary: 'the main job: merge the embedded benchmark with each method, evaluate, print the comparison table',
  usage: [
    'amalgam bench [--benchmark mini8] [--method NAME …|all] [--set method.key=value …] [--seed N] [--split test|val] [--json FILE]',
    'amalgam bench --benchmark clip-ta8 --data DIR [--model clip-vit-base-patch32] [--limit N] [--reference] [--method …]',
    '',
    'Without --method, runs every method (two-model methods such as SLERP are skipped on an 8-model pool).',
    'mini-8 runs AdaMerging with 200 steps unless --set or --pure-defaults says otherwise (docs/benchmarks.md).',
    'Reference rows (pretrained, the',
    'individual experts, multi-task training) come first; Norm is accuracy ÷ expert accuracy, per task, averaged.',
  ].join('\n'),
  async run(argv, io) {
    const { values } = parse(argv, {
      benchmark: { type: 'string', default: 'mini8' }, method: { type: 'string', multiple: true }, set: { type: 'string', multiple: true },
      seed: { type: 'string' }, split: { type: 'string' }, json: { type: 'string' }, quiet: { type: 'boolean' },
      data: { type: 'string' }, model: { type: 'string' }, 'pure-defaults': { type: 'boolean' }, limit: { type: 'string' }, reference: { type: 'boolean' }, 'batch-size': { type: 'string' },
    }, false)
    if (values.benchmark !== 'mini8' && values.benchmark !== 'clip-ta8') throw new AmalgamError('BAD_REQUEST', `unknown benchmark "${values.benchmark}" (available: mini8, clip-ta8)`)
    if (values.benchmark === 'clip-ta8' && !values.data) throw new AmalgamError('BAD_REQUEST', 'clip-ta8 needs --data DIR (see docs/clip-ta8.md)')
    if (values.split && values.split !== 'test' && values.split !== 'val') throw new AmalgamError('BAD_REQUEST', '--split must be test or val')
    const { initTensorBackend } = await import('../../engine/backends/select')
    const backend = await initTensorBackend({ log: (l) => { if (!values.quiet) io.err(l) } })
    const { runMini8Bench, benchMethods } = await import('../../engine/bench/mini8-bench')
    const { hasMethod } = await import('../../engine/merge/registry')
    const asked = values.method ?? ['all']
    const names = asked.includes('all') ? benchMethods().map((m) => m.name) : asked
    for (const n of names) if (!hasMethod(n)) throw new AmalgamError('UNKNOWN_METHOD', `unknown method "${n}" (see amalgam methods)`)
    const sets = parseScopedSets(values.set)
    for (const scope of sets.keys()) if (scope !== '*' && !names.includes(scope)) throw new AmalgamError('BAD_REQUEST', `--set ${scope}.…: ${scope} is not among the methods being run`)
    const runs = names.map((m) => ({ method: m, params: { ...(sets.get('*') ?? {}), ...(sets.get(m) ?? {}) } }))
    const failures: string[] = []
    if (!values.quiet) io.err(`${values.benchmark}: ${runs.length} method(s) on ${backend.backend}…`)
    const onRow = (r: BenchRow) => { if (!values.quiet) io.err(`  ${r.name.padEnd(28)} avg ${(100 * r.average).toFixed(1)}  (${r.seconds.toFixed(1)} s)`) }
    const onError = (m: string, e: unknown) => { failures.push(`${m}: ${toWireError(e).message}`); io.err(`  ${m.padEnd(28)} FAILED: ${toWireError(e).message}`) }
    const seed = intOpt(values.seed, 'seed') ?? 0
    const skipped: string[] = []
    // only `all` skips methods the pool cannot take; a method asked for by name fails loudly
    const onSkip = asked.includes('all') ? (m: string, why: string) => { skipped.push(`${m}: ${why}`); if (!values.quiet) io.err(`  ${m.padEnd(28)} skipped: ${why}`) } : undefined
    const report = values.benchmark === 'clip-ta8'
      ? await (await import('../../engine/bench/clip-ta8-bench')).runClipTa8Bench({
        dataDir: values.data!, model: values.model as Ta8Model | undefined, runs, seed, limit: intOpt(values.limit, 'limit'), batchSize: intOpt(values['batch-size'], 'batch-size'),
        reference: values.reference, cacheDir: join(values.data!, '.amalgam-cache'), onRow, onError, onSkip,
      })
      : await runMini8Bench({ runs, seed, split: values.split as 'test' | 'val' | undefined, pureDefaults: values['pure-defaults'], onRow, onError, onSkip })
    io.out(benchTable(report))
    if (values.json) await writeFileAtomic(values.json, JSON.stringify({ ...report, backend: backend.backend, failures, skipped }, null, 2) + '\n')
    if (failures.length) { io.err(`amalgam bench: ${failures.length} method(s) failed`); return 1 }
  },
}
export default cmd
