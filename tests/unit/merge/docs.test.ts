import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { render } from '../../../scripts/gen-method-docs'
import { listMethods } from '../../../main/engine/merge/registry'

describe('method catalogue (docs/methods.md)', () => {
  it('is generated from the schemas and lists every method and parameter', () => {
    const text = render()
    for (const m of listMethods()) {
      expect(text).toContain(`## \`${m.name}\``)
      for (const p of m.params) expect(text).toContain(`| \`${p.name}\` |`)
    }
    expect(text).toContain('KnOTS')
  })

  it('the committed docs/methods.md is up to date (run npx tsx scripts/gen-method-docs.ts)', () => {
    expect(readFileSync(new URL('../../../docs/methods.md', import.meta.url), 'utf8')).toBe(render())
  })
})
