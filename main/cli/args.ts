// Small argument helpers shared by the subcommands (node:util parseArgs does the parsing).
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { AmalgamError } from '#common/errors'

export type Options = NonNullable<ParseArgsConfig['options']>

type ParseConfig<T extends Options> = { args: string[]; options: T; allowPositionals: true; strict: true }
export type Parsed<T extends Options> = ReturnType<typeof parseArgs<ParseConfig<T>>>

export function parse<T extends Options>(argv: string[], options: T, allowPositionals = true): Parsed<T> {
  try {
    return parseArgs<ParseConfig<T>>({ args: argv, options, allowPositionals: allowPositionals as true, strict: true })
  } catch (e) {
    throw new AmalgamError('BAD_REQUEST', (e as Error).message)
  }
}

/** `--set key=value` pairs; values stay strings here and are coerced by the method's schema. */
export function parseSets(sets: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const s of sets ?? []) {
    const eq = s.indexOf('=')
    if (eq <= 0) throw new AmalgamError('BAD_REQUEST', `--set expects key=value, got "${s}"`)
    out[s.slice(0, eq).trim()] = s.slice(eq + 1).trim()
  }
  return out
}

/** `--set method.key=value` for `bench` with several methods: split by method prefix. */
export function parseScopedSets(sets: string[] | undefined): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>()
  for (const [k, v] of Object.entries(parseSets(sets))) {
    const dot = k.indexOf('.')
    const scope = dot > 0 ? k.slice(0, dot) : '*'
    const key = dot > 0 ? k.slice(dot + 1) : k
    if (!out.has(scope)) out.set(scope, {})
    out.get(scope)![key] = v
  }
  return out
}

export function intOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isInteger(n)) throw new AmalgamError('BAD_REQUEST', `--${name} expects an integer, got "${v}"`)
  return n
}

export function requireOpt<T>(v: T | undefined, name: string): T {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) throw new AmalgamError('BAD_REQUEST', `missing --${name}`)
  return v
}
