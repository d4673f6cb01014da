// A small hash router (hash URLs work from file:// in Electron and from `amalgam serve` alike).
// Routes are "#/name?query"; views read the query through useRoute().
import { reactive, readonly } from 'vue'

export const ROUTES = ['status', 'workspaces', 'pool', 'runs', 'history', 'compare', 'diagnostics', 'export'] as const
export type RouteName = (typeof ROUTES)[number]

interface Route { name: RouteName; query: Record<string, string> }

function parse(hash: string): Route {
  const h = hash.replace(/^#\/?/, '')
  const [path, qs = ''] = h.split('?')
  const name = (ROUTES as readonly string[]).includes(path) ? (path as RouteName) : 'workspaces'
  return { name, query: Object.fromEntries(new URLSearchParams(qs)) }
}

const state = reactive<Route>(parse(typeof location !== 'undefined' ? location.hash : ''))

export function startRouter(): void {
  window.addEventListener('hashchange', () => Object.assign(state, parse(location.hash)))
}

export function useRoute(): Readonly<Route> { return readonly(state) as Readonly<Route> }

export function href(name: RouteName, query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== '') as Array<[string, string]>).toString()
  return `#/${name}${q ? `?${q}` : ''}`
}

export function navigate(name: RouteName, query: Record<string, string | undefined> = {}): void {
  const h = href(name, query)
  if (location.hash !== h) location.hash = h
  Object.assign(state, parse(h))
}
