import type { Command } from '../main'
import { parse, requireOpt } from '../args'
import { bytes, count, table } from '../format'

const cmd: Command = {
  summary: 'pre-run check of a model pool: same tensors and shapes, dtype mix, NaN/Inf, peak memory',
  usage: 'amalgam check --base DIR --model DIR [--model DIR …] [--nonfinite] [--method NAME] [--json]',
  async run(argv, io) {
    const { values } = parse(argv, {
      base: { type: 'string' }, model: { type: 'string', multiple: true }, json: { type: 'boolean' },
      nonfinite: { type: 'boolean' }, method: { type: 'string' },
    }, false)
    const { checkPool } = await import('../../engine/checkpoints/pool-check')
    const r = await checkPool(requireOpt(values.base, 'base'), requireOpt(values.model, 'model'), { scanNonFinite: values.nonfinite, method: values.method })
    if (values.json) { io.out(JSON.stringify(r, null, 2)); return r.ok ? 0 : 1 }
    io.out(`${r.ok ? 'OK' : 'MISMATCH'}: base + ${r.models.length} models, ${count(r.tensorCount)} tensors, ${count(r.parameterCount)} parameters, estimated peak ${bytes(r.estimatedPeakBytes)}`)
    for (const [m, mix] of Object.entries(r.dtypeMix)) io.out(`  ${m}: ${Object.entries(mix).map(([d, n]) => `${d}×${n}`).join(', ')}`)
    if (r.issues.length) {
      io.out('')
      io.out(table(['kind', 'model', 'tensor', 'detail'], r.issues.slice(0, 200).map((i) => [i.kind, i.model, i.tensor ?? '', i.detail]), { align: ['l', 'l', 'l', 'l'] }))
      if (r.issues.length > 200) io.out(`… and ${r.issues.length - 200} more (use --json for all)`)
    }
    if (!r.ok) { io.err(`amalgam check: ${r.issues.length} problem(s); nothing would start`); return 1 }
  },
}
export default cmd
