// Prompt templates and class-name conventions for the eight FusionBench TA8 tasks. A template is a
// sentence with "{c}" where the class name goes; a task's zero-shot head averages the normalised
// text embeddings of all its templates (prompt ensembling, methods.md §28.3).
//
// These lists are Amalgam's own, written per dataset domain (scenes, car models, aerial and
// satellite land use, house-number and handwritten digits, traffic signs, textures). FusionBench's
// published numbers use the task-vectors repository's lists; to reproduce them to ~0.1 point
// (self-check S18) supply those lists as templates.json in each task's data folder, or through
// ClipEvalTask.templates (see docs/clip-ta8.md). The head cache key
// includes the template text, so the two never mix.
import { AmalgamError } from '#common/errors'

export const TA8_TASKS = ['sun397', 'stanford-cars', 'resisc45', 'eurosat', 'svhn', 'gtsrb', 'mnist', 'dtd'] as const
export type Ta8Task = (typeof TA8_TASKS)[number]

const ALIASES: Record<string, Ta8Task> = {
  sun397: 'sun397', sun: 'sun397',
  'stanford-cars': 'stanford-cars', stanford_cars: 'stanford-cars', stanfordcars: 'stanford-cars', cars: 'stanford-cars',
  resisc45: 'resisc45', resisc: 'resisc45',
  eurosat: 'eurosat', svhn: 'svhn', gtsrb: 'gtsrb', mnist: 'mnist', dtd: 'dtd',
}

/** The TA8 task a dataset/task name refers to, or null for other tasks. */
export function canonicalTask(name: string): Ta8Task | null {
  return ALIASES[name.trim().toLowerCase()] ?? null
}

const digitPrompts = ['a photo of the number: "{c}".', 'an image of the digit {c}.', 'the number {c}.']

export const TEMPLATES: Record<Ta8Task, readonly string[]> = {
  sun397: ['a photo of a {c}.', 'a photo of the {c}.', 'a picture of a {c}, a kind of place.', 'a scene showing a {c}.'],
  'stanford-cars': [
    'a photo of a {c}.', 'a photo of the {c}, a type of car.', 'a picture of my {c}.', 'a {c} parked on the street.',
    'a photo of an old {c}.', 'a photo of a new {c}.', 'a close-up photo of a {c}.', 'a side view of a {c}.',
  ],
  resisc45: [
    'satellite imagery of {c}.', 'aerial imagery of {c}.', 'a satellite photo of {c}.', 'an aerial photo of {c}.',
    'a satellite view of the {c}.', 'an aerial view of the {c}.', 'remote sensing image of {c}.', 'a top-down photo of {c}.',
  ],
  eurosat: ['a centered satellite photo of {c}.', 'a satellite image of {c}.', 'a land-cover tile showing {c}.'],
  svhn: digitPrompts,
  gtsrb: ['a photo of a "{c}" traffic sign.', 'a zoomed in photo of the "{c}" traffic sign.', 'a close up of a road sign: {c}.'],
  mnist: ['a photo of the number: "{c}".', 'a handwritten digit {c}.', 'a black and white image of the digit {c}.'],
  dtd: ['a photo of a {c} texture.', 'a photo of a {c} pattern.', 'a close-up of a {c} surface.', 'a {c} material.', 'a photo of something {c}.'],
}

/**
 * Class names the prompts should use, where the dataset's own labels are not readable words
 * (digits as labels, EuroSAT's CamelCase codes). Ordered by label id of the HF/torchvision datasets.
 */
export const CLASS_NAMES: Partial<Record<Ta8Task, readonly string[]>> = {
  mnist: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  svhn: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  eurosat: [
    'annual crop land', 'forest', 'herbaceous vegetation land', 'highway or road', 'industrial buildings',
    'pasture land', 'permanent crop land', 'residential buildings', 'river', 'sea or lake',
  ],
}

/** Fills "{c}" in every template; rejects templates without the placeholder. */
export function fillTemplates(templates: readonly string[], className: string, where = 'templates'): string[] {
  return templates.map((t) => {
    if (!t.includes('{c}')) throw new AmalgamError('BAD_PARAM', `${where}: template ${JSON.stringify(t)} has no {c} placeholder`)
    return t.replaceAll('{c}', className)
  })
}

/**
 * Readable prompt words from a dataset label: a SUN397-style "/a/" prefix is dropped, underscores
 * and slashes become spaces ("/b/bus_interior" → "bus interior").
 */
export function readableClassName(raw: string): string {
  let s = raw.trim()
  if (/^\/[a-z]\//.test(s)) s = s.slice(3)
  return s.replace(/[_/]+/g, ' ').replace(/\s+/g, ' ').trim()
}

export function templatesFor(task: string): readonly string[] | null {
  const t = canonicalTask(task)
  return t ? TEMPLATES[t] : null
}
