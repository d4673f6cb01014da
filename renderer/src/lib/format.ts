export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  const u = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  let v = n
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++ }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${u[i]}`
}

export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`
  return String(n)
}

/** accuracy in [0,1] → "73.4" (the papers' convention: percent, one decimal) */
export function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : (v * 100).toFixed(digits)
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  const s = ms / 1000
  if (s < 1) return `${ms.toFixed(0)} ms`
  if (s < 60) return `${s.toFixed(1)} s`
  if (s < 3600) return `${Math.floor(s / 60)} m ${Math.round(s % 60)} s`
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} m`
}

export function eta(sec: number | null | undefined): string {
  // under a second left is "finishing", not a countdown worth showing
  if (sec === null || sec === undefined || !Number.isFinite(sec) || sec < 1) return ''
  return `ETA ${duration(sec * 1000)}`
}

export function date(iso: string | null | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const p = (x: number) => String(x).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`
}

export function paramSummary(params: Record<string, unknown>, max = 3): string {
  const parts = Object.entries(params).slice(0, max).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toPrecision(4) : Array.isArray(v) ? `[${v.length}]` : String(v)}`)
  return parts.join(' ') + (Object.keys(params).length > max ? ' …' : '')
}

/** Column colour scale (R9 in ux.md): white → green by rank within the column. */
export function scaleColor(v: number | null | undefined, min: number, max: number): string {
  if (v === null || v === undefined || !Number.isFinite(v) || max <= min) return 'transparent'
  const t = (v - min) / (max - min)
  return `rgba(34, 160, 90, ${(0.06 + 0.42 * t).toFixed(3)})`
}
