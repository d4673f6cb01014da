// Reading learned coefficients out of an experiment's diagnostics for the heatmaps.
export type Matrix = { title: string; rows: string[]; cols: string[]; values: number[][] }
const isNumArr = (x: unknown): x is number[] => Array.isArray(x) && x.every((v) => typeof v === 'number')
/**
 * Layer × task coefficient matrices in an experiment's diagnostics: layer-wise AdaMerging stores
 * `lambda: { tasks, tensors, values[task][tensor] }`, task-wise `{ tasks, values[task] }`, DogeTA
 * `perTensor[name].lambda[task]`; generic `{ rows, cols, values }` matrices are shown too.
 */
export function findMatrices(d: unknown, path = ''): Matrix[] {
  if (!d || typeof d !== 'object' || Array.isArray(d)) return []
  const o = d as Record<string, unknown>
  const out: Matrix[] = []
  const tasks = Array.isArray(o.tasks) ? o.tasks.map(String) : null
  if (tasks && Array.isArray(o.tensors) && Array.isArray(o.values) && o.values.every(isNumArr)) {
    const v = o.values as number[][]
    const tensors = o.tensors.map(String)
    return [{ title: path || 'coefficients', rows: tensors, cols: tasks, values: tensors.map((_, c) => tasks.map((_, t) => v[t]?.[c] ?? Number.NaN)) }]
  }
  if (tasks && isNumArr(o.values) && o.values.length === tasks.length) return [{ title: path || 'coefficients', rows: ['all layers'], cols: tasks, values: [o.values] }]
  if (Array.isArray(o.rows) && Array.isArray(o.cols) && Array.isArray(o.values) && o.values.every(isNumArr)) {
    return [{ title: (o.title as string) ?? (path || 'matrix'), rows: o.rows.map(String), cols: o.cols.map(String), values: o.values as number[][] }]
  }
  if (path === '' && o.perTensor && typeof o.perTensor === 'object') {
    const pt = o.perTensor as Record<string, Record<string, unknown>>
    const names = Object.keys(pt).filter((k) => isNumArr(pt[k]?.lambda))
    if (names.length) {
      const n = Math.max(...names.map((k) => (pt[k].lambda as number[]).length))
      out.push({ title: 'λ per tensor', rows: names, cols: Array.from({ length: n }, (_, i) => `task ${i + 1}`), values: names.map((k) => pt[k].lambda as number[]) })
    }
  }
  for (const [k, v] of Object.entries(o)) if (k !== 'perTensor') out.push(...findMatrices(v, path ? `${path}.${k}` : k))
  return out
}
