import { readFile, stat } from 'node:fs/promises'
import { basename, relative } from 'node:path'
import type { FloatOutDType } from '#common/types'
import { AmalgamError } from '#common/errors'
import type { Command } from '../main'
import { intOpt, parse, parseSets, requireOpt } from '../args'

const DTYPES: FloatOutDType[] = ['f32', 'bf16', 'f16']

const cmd: Command = {
  summary: 'merge a pool (base + fine-tuned models) with one method and write a Hugging Face folder',
  usage: [
    'amalgam merge --base DIR --model DIR [--model DIR …] --method NAME [--set key=value …] [--seed N]',
    '              [--dtype f32|bf16|f16] [--shard-size BYTES] --out DIR [--overwrite] [--json]',
    'amalgam merge RECIPE.yaml [--out DIR] [--json]',
    '',
    'Models are taken in the order given. A per-task method (EMR, TALL masks) writes one folder per',
    'model under DIR. The pool is checked first (same tensors, same shapes); nothing starts otherwise.',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parse(argv, {
      base: { type: 'string' }, model: { type: 'string', multiple: true }, method: { type: 'string' }, set: { type: 'string', multiple: true },
      seed: { type: 'string' }, dtype: { type: 'string' }, 'shard-size': { type: 'string' }, out: { type: 'string' }, overwrite: { type: 'boolean' },
      json: { type: 'boolean' }, quiet: { type: 'boolean' },
    })
    const [{ parseRecipe, serialiseRecipe }, { ENGINE_VERSION }] = await Promise.all([import('../../engine/recipe'), import('../../engine/version')])
    let base: string, models: string[], method: string, raw: Record<string, unknown>, seed: number, dtype: FloatOutDType | undefined
    if (positionals.length > 1) throw new AmalgamError('BAD_REQUEST', 'merge takes at most one recipe file')
    if (positionals.length === 1) {
      if (values.base || values.model || values.method) throw new AmalgamError('BAD_REQUEST', 'give either a recipe file or --base/--model/--method, not both')
      const recipe = parseRecipe(await readFile(positionals[0], 'utf8'), positionals[0])
      base = recipe.pool.base.path; models = recipe.pool.models.map((m) => m.path)
      method = recipe.method; raw = recipe.params; seed = recipe.seed; dtype = recipe.output.dtype
    } else {
      base = requireOpt(values.base, 'base'); models = requireOpt(values.model, 'model'); method = requireOpt(values.method, 'method')
      raw = parseSets(values.set); seed = intOpt(values.seed, 'seed') ?? 0
    }
    if (values.dtype) {
      if (!DTYPES.includes(values.dtype as FloatOutDType)) throw new AmalgamError('BAD_REQUEST', `--dtype must be one of ${DTYPES.join(', ')}`)
      dtype = values.dtype as FloatOutDType
    }
    const out = requireOpt(values.out, 'out')
    const shardBytes = intOpt(values['shard-size'], 'shard-size')

    const [{ getMethod }, { validateParams }, { runMerge }, { checkPool }, { openModel }, { HfFolderWriter }, { sha256File }, { HfFolderSet, taskFolders }] = await Promise.all([
      import('../../engine/merge/registry'), import('../../engine/merge/schema'), import('../../engine/merge/run'),
      import('../../engine/checkpoints/pool-check'), import('../../engine/checkpoints/open'), import('../../engine/checkpoints/export'), import('../../engine/util/hash'),
      import('../../engine/checkpoints/folder-set'),
    ])
    const m = getMethod(method)
    const params = validateParams(m.info, raw)
    const check = await checkPool(base, models, { method })
    if (!check.ok) {
      const first = check.issues.slice(0, 5).map((i) => `${i.model}${i.tensor ? ` ${i.tensor}` : ''}: ${i.detail}`).join('; ')
      throw new AmalgamError('POOL_MISMATCH', `pool check failed (${check.issues.length} problem(s)): ${first}`, check.issues)
    }
    const progress = (stage: string, f: number, msg?: string) => { if (!values.quiet && !values.json) process.stderr.write(`\r${stage} ${(100 * f).toFixed(0).padStart(3)}% ${(msg ?? '').slice(0, 60).padEnd(60)}`) }

    const baseSrc = await openModel(base)
    const srcs = [] as Awaited<ReturnType<typeof openModel>>[]
    try {
      for (const p of models) srcs.push(await openModel(p))
      const hashModel = async (src: typeof baseSrc) => ({ path: src.dir ?? src.label, files: await Promise.all(src.files.map(async (f) => ({ file: relative(src.dir ?? '.', f) || basename(f), sha256: await sha256File(f), bytes: (await stat(f)).size }))) })
      progress('hash', 0, 'hashing inputs')
      const recipe = {
        format: 1, name: basename(out), engineVersion: ENGINE_VERSION, method: m.info.name, params, seed,
        pool: { base: await hashModel(baseSrc), models: await Promise.all(srcs.map(hashModel)) }, benchmark: null, output: { dtype: dtype ?? 'f32', keepModel: true },
      }
      const recipeYaml = serialiseRecipe(recipe as Parameters<typeof serialiseRecipe>[0])
      const names = srcs.map((s) => basename(s.dir ?? s.label))
      const plan = baseSrc.names().map((n) => baseSrc.meta(n))
      const card = { method: m.info.name, methodTitle: m.info.title, params, seed, engineVersion: ENGINE_VERSION, base: { path: base, sha256: recipe.pool.base.files[0]?.sha256 }, models: models.map((p) => ({ path: p })) }
      const metadata = { amalgam_recipe: JSON.stringify(recipe) }
      const writerOpts = (name: string) => ({ baseDir: baseSrc.dir, plan, dtype, shardBytes, metadata, card: { ...card, name }, recipeYaml })
      // per-task methods: one HF folder per task under `out`, committed together (folder-set.ts)
      const set = m.info.perTask
        ? await HfFolderSet.create(out, taskFolders(names).map((f) => ({ ...f, opts: { ...writerOpts(f.dir), metadata: { ...metadata, amalgam_task: f.task } } })), { overwrite: values.overwrite, method: m.info.name })
        : null
      const writers = set ? set.writers : [new HfFolderWriter({ outDir: out, ...writerOpts(basename(out)), overwrite: values.overwrite })]
      const t0 = performance.now()
      let result
      try {
        result = await runMerge({ method: m.info.name, params, seed, pool: { base: baseSrc, models: srcs, names }, sink: set ? undefined : writers[0], sinks: set ? writers : undefined, ctx: { progress } })
        const written = set ? (await set.commit()).tasks : [await writers[0].commit()]
        const outDirs = written.map((w) => w.outDir)
        if (!values.quiet && !values.json) process.stderr.write('\n')
        const summary = { out: outDirs, method: m.info.name, params: result.params, seed, seconds: (performance.now() - t0) / 1000, tensors: result.tensors, diagnostics: result.diagnostics, files: written.map((w) => w.files), dtype: written[0]?.dtype }
        if (values.json) io.out(JSON.stringify(summary, null, 2))
        else io.out(`${m.info.name}: wrote ${set ? `${out} (${outDirs.length} task folders)` : out} (${written[0]?.dtype}, ${result.tensors.merged} tensors merged, ${result.tensors.copied} copied) in ${summary.seconds.toFixed(1)} s`)
      } catch (e) {
        if (set) await set.abort().catch(() => {})
        else await writers[0].abort().catch(() => {})
        throw e
      }
    } finally {
      await baseSrc.close?.()
      for (const s of srcs) await s.close?.()
    }
  },
}
export default cmd
