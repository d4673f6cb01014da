import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ta8Layout, TA8_TASKS, resolveClassNames, resolveTemplates, canonicalTask, fillTemplates, TEMPLATES } from '../../../main/engine/clip'
import { readableClassName } from '../../../main/engine/clip/templates'
import type { ImageDataset } from '../../../main/engine/datasets'

const root = mkdtempSync(join(tmpdir(), 'amalgam-ta8-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const fakeDs = (classNames: string[] | null): ImageDataset => ({ label: 'fake', split: 'test', size: 0, classNames, async *batches() { /* empty */ } })

describe('TA8 layout', () => {
  it('lists every missing folder, then resolves the eight tasks in FusionBench order', () => {
    expect(() => ta8Layout(root)).toThrow(/missing 17 folder/)
    mkdirSync(join(root, 'models', 'clip-vit-base-patch32'), { recursive: true })
    for (const t of TA8_TASKS) { mkdirSync(join(root, 'models', `clip-vit-base-patch32_${t}`), { recursive: true }); mkdirSync(join(root, 'data', t), { recursive: true }) }
    const l = ta8Layout(root)
    expect(l.tasks.map((t) => t.name)).toEqual(['sun397', 'stanford-cars', 'resisc45', 'eurosat', 'svhn', 'gtsrb', 'mnist', 'dtd'])
    expect(l.experts[1]).toBe(join(root, 'models', 'clip-vit-base-patch32_stanford-cars'))
    expect(l.expertAccuracy?.mnist).toBeCloseTo(0.996)
    expect(() => ta8Layout(root, 'clip-vit-large-patch14')).toThrow(/clip-vit-large-patch14_sun397/)
  })
})

describe('class names and templates', () => {
  it('prefers explicit names, then classnames.json, then built-ins, then the dataset labels', () => {
    const d = join(root, 'names'); mkdirSync(d)
    expect(resolveClassNames({ name: 'x', dataDir: d, classNames: ['p', 'q'] }, fakeDs(['a']))).toEqual(['p', 'q'])
    expect(resolveClassNames({ name: 'mnist', dataDir: d }, fakeDs(['0 - zero', '1 - one', '2', '3', '4', '5', '6', '7', '8', '9']))[3]).toBe('3')
    expect(resolveClassNames({ name: 'eurosat', dataDir: d }, fakeDs(null))[9]).toBe('sea or lake')
    // a built-in list whose length disagrees with the dataset is not used
    expect(resolveClassNames({ name: 'eurosat', dataDir: d }, fakeDs(['x_y', 'z']))).toEqual(['x y', 'z'])
    expect(resolveClassNames({ name: 'sun397', dataDir: d }, fakeDs(['/a/abbey', '/b/bus_interior']))).toEqual(['abbey', 'bus interior'])
    expect(() => resolveClassNames({ name: 'sun397', dataDir: d }, fakeDs(null))).toThrow(/classnames\.json/)
    writeFileSync(join(d, 'classnames.json'), JSON.stringify(['one', 'two']))
    expect(resolveClassNames({ name: 'sun397', dataDir: d }, fakeDs(['x', 'y']))).toEqual(['one', 'two'])
    writeFileSync(join(d, 'classnames.json'), '{"bad": 1}')
    expect(() => resolveClassNames({ name: 'sun397', dataDir: d }, fakeDs(['x']))).toThrow(/classnames\.json: must be a JSON array/)
  })
  it('takes templates from the task, then templates.json, then the built-in list', () => {
    const d = join(root, 'tpl'); mkdirSync(d)
    expect(resolveTemplates({ name: 'dtd', dataDir: d })).toEqual([...TEMPLATES.dtd])
    expect(() => resolveTemplates({ name: 'food101', dataDir: d })).toThrow(/templates\.json/)
    writeFileSync(join(d, 'templates.json'), JSON.stringify(['a {c}']))
    expect(resolveTemplates({ name: 'dtd', dataDir: d })).toEqual(['a {c}'])
    expect(resolveTemplates({ name: 'dtd', dataDir: d, templates: ['{c}!'] })).toEqual(['{c}!'])
    writeFileSync(join(d, 'templates.json'), '[]')
    expect(() => resolveTemplates({ name: 'dtd', dataDir: d })).toThrow(/templates\.json: must be a JSON array/)
  })
  it('has templates with a {c} slot for every TA8 task and maps aliases', () => {
    for (const t of TA8_TASKS) { expect(TEMPLATES[t].length).toBeGreaterThan(0); expect(() => fillTemplates(TEMPLATES[t], 'x')).not.toThrow() }
    expect(canonicalTask('Stanford_Cars')).toBe('stanford-cars')
    expect(canonicalTask('cifar10')).toBeNull()
    expect(() => fillTemplates(['no slot'], 'x')).toThrow(/\{c\}/)
    expect(readableClassName('/c/campus')).toBe('campus')
  })
})
