// Recipe ⇄ YAML. Keys in the file are snake_case (what people write by hand and what mergekit
// users expect); the TypeScript object is camelCase. parse(serialise(r)) deep-equals r.
import { parseDocument, stringify, YAMLParseError } from 'yaml'
import { AmalgamError } from '#common/errors'
import { RecipeError, validateRecipe, type Recipe } from './schema'

const TO_FILE: Record<string, string> = { engineVersion: 'engine_version', keepModel: 'keep_model' }
const FROM_FILE: Record<string, string> = Object.fromEntries(Object.entries(TO_FILE).map(([a, b]) => [b, a]))

export function serialiseRecipe(r: Recipe): string {
  const doc = {
    format: r.format,
    name: r.name,
    engine_version: r.engineVersion,
    method: r.method,
    // Parameter names belong to the method (FusionBench names), so they are written verbatim.
    params: r.params,
    seed: r.seed,
    benchmark: r.benchmark,
    output: { dtype: r.output.dtype, keep_model: r.output.keepModel },
    pool: r.pool,
  }
  return '# Amalgam recipe (docs/recipes.md). Re-run with: amalgam run <this file>\n' + stringify(doc, { lineWidth: 0 })
}

export function parseRecipe(text: string, source = 'recipe'): Recipe {
  const data = renameKeys(parseYaml(text, source))
  try {
    return validateRecipe(data, source)
  } catch (e) {
    // Name the field as it is spelled in the file, not as it is spelled in TypeScript.
    if (e instanceof RecipeError) {
      const fileField = e.field.replace(/[A-Za-z]+/g, (w) => TO_FILE[w] ?? w)
      throw new RecipeError(source, fileField, e.message.slice(`${source}: ${e.field}: `.length))
    }
    throw e
  }
}

/** YAML text → plain data, with syntax errors naming the file, line and column. */
export function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length) {
    const e = doc.errors[0]!
    const pos = e instanceof YAMLParseError && e.linePos ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : ''
    throw new AmalgamError('BAD_FILE', `${source}: not valid YAML${pos}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`)
  }
  return doc.toJS({ maxAliasCount: 100 })
}

// Only the recipe's own structural keys are renamed; params keep their names untouched.
function renameKeys(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
  const o = v as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(o)) out[FROM_FILE[k] ?? k] = x
  if (typeof out.output === 'object' && out.output !== null && !Array.isArray(out.output)) {
    const oo: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(out.output as Record<string, unknown>)) oo[FROM_FILE[k] ?? k] = x
    out.output = oo
  }
  return out
}
