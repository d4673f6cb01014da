// Plain-text tables for the terminal. Numbers are right-aligned; the caller formats them.
export function table(header: string[], rows: string[][], opts: { align?: Array<'l' | 'r'> } = {}): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const al = opts.align ?? header.map((_, i) => (i === 0 ? 'l' : 'r'))
  const fmt = (cells: string[]) => cells.map((c, i) => (al[i] === 'l' ? (c ?? '').padEnd(w[i]) : (c ?? '').padStart(w[i]))).join('  ')
  return [fmt(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)].join('\n')
}

export const pct = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined || Number.isNaN(x) ? '–' : (100 * x).toFixed(digits))

export function bytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`
}

export const count = (n: number): string => n.toLocaleString('en-US')
