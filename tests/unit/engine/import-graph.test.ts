// The engine and its Node hosts must never import 'electron': in plain Node (vitest, `amalgam serve`)
// that import tries to download the Electron binary or hangs. Walks the real import graph.
import { describe, expect, it } from 'vitest'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const SPEC = /(?:^|[^\w.])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm

function specifiers(file: string): Array<{ spec: string; typeOnly: boolean }> {
  const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
  const out: Array<{ spec: string; typeOnly: boolean }> = []
  for (const m of src.matchAll(SPEC)) out.push({ spec: m[1] ?? m[2], typeOnly: /^\s*(?:import|export)\s+type\s/.test(m[0].replace(/^[^ie]*/, '')) })
  return out
}

function resolveLocal(from: string, spec: string): string | null {
  const base = spec.startsWith('#common/') ? join(root, 'common', spec.slice(8)) : spec.startsWith('.') ? resolve(dirname(from), spec) : null
  if (!base) return null
  const clean = base.replace(/\?.*$/, '')
  for (const c of [clean, `${clean}.ts`, `${clean}.mts`, `${clean}.js`, `${clean}.mjs`, join(clean, 'index.ts')]) if (existsSync(c) && statSync(c).isFile()) return c
  return null
}

/** every file reachable from the entries (runtime imports only), and the packages they import */
function walk(entries: string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>()
  const packages = new Map<string, string>()
  const stack = entries.map((e) => join(root, e))
  while (stack.length) {
    const f = stack.pop()!
    if (files.has(f)) continue
    files.add(f)
    if (!/\.(m?ts|m?js)$/.test(f)) continue
    for (const { spec, typeOnly } of specifiers(f)) {
      if (typeOnly) continue
      const local = resolveLocal(f, spec)
      if (local) stack.push(local)
      else if (!spec.startsWith('.') && !spec.startsWith('#')) packages.set(spec, relative(root, f))
    }
  }
  return { files, packages }
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => d.isDirectory() ? allFiles(join(dir, d.name)) : /\.(m?ts|m?js)$/.test(d.name) ? [join(dir, d.name)] : [])
}

const isElectron = (p: string) => p === 'electron' || p.startsWith('electron/')

describe('engine never imports electron', () => {
  it('the import graph of the engine and its Node hosts reaches no electron module', () => {
    const { files, packages } = walk(['main/engine/engine.ts', 'main/hosts/server.ts', 'main/hosts/utility.ts'])
    // guard against a walker that silently finds nothing
    expect(files.size).toBeGreaterThan(30)
    expect([...files].some((f) => f.endsWith(join('main', 'engine', 'services', 'index.ts')))).toBe(true)
    expect([...packages.keys()]).toContain('ws')
    const offenders = [...packages].filter(([p]) => isElectron(p)).map(([p, f]) => `${f} imports ${p}`)
    expect(offenders).toEqual([])
    for (const f of files) expect(relative(root, f).startsWith(join('main', 'app'))).toBe(false)
  })

  it('no file under main/engine, main/hosts or common mentions an electron import at all', () => {
    const offenders: string[] = []
    for (const dir of ['main/engine', 'main/hosts', 'common']) {
      for (const f of allFiles(join(root, dir))) for (const { spec } of specifiers(f)) if (isElectron(spec)) offenders.push(`${relative(root, f)}: ${spec}`)
    }
    expect(offenders).toEqual([])
  })

  it('the walker does see electron where it is allowed (main/app)', () => {
    const { packages } = walk(['main/app/index.ts'])
    expect([...packages.keys()].some(isElectron)).toBe(true)
  })
})
