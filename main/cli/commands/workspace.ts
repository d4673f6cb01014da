import { resolve } from 'node:path'
import { AmalgamError } from '#common/errors'
import type { Command } from '../main'
import { parse } from '../args'
import { bytes, table } from '../format'
import { cliCtx, openServices } from '../services'

const cmd: Command = {
  summary: 'create, open or list workspaces (a folder with amalgam.db, models/, runs/, cache/); clear a workspace cache',
  usage: 'amalgam workspace init [DIR] | open DIR | list | clear-cache [DIR]   [--json]\n\nWithout DIR, init and clear-cache use AMALGAM_WORKSPACE or the OS app-data default.\nclear-cache deletes cache/ (content-keyed statistics; always safe, recomputed on demand).',
  async run(argv, io) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } })
    const [sub, dir] = positionals
    if (sub === 'list') {
      const { services } = await openServices(undefined, io, { create: true, quiet: true })
      try {
        const recent = await services['workspace.recent'](undefined, cliCtx)
        if (values.json) io.out(JSON.stringify(recent, null, 2))
        else io.out(recent.length ? recent.join('\n') : '(no workspaces yet — amalgam workspace init DIR)')
      } finally { await services.close() }
      return
    }
    if (sub === 'clear-cache') {
      const { services } = await openServices(dir ? resolve(dir) : undefined, io, { create: false, quiet: true })
      try {
        const r = await services['workspace.clearCache'](undefined, cliCtx)
        if (values.json) io.out(JSON.stringify(r, null, 2))
        else io.out(`cache cleared: ${bytes(r.freedBytes)} freed`)
      } finally { await services.close() }
      return
    }
    if (sub !== 'init' && sub !== 'open') throw new AmalgamError('BAD_REQUEST', 'usage: amalgam workspace init [DIR] | open DIR | list | clear-cache [DIR]')
    if (sub === 'open' && !dir) throw new AmalgamError('BAD_REQUEST', 'workspace open needs a folder')
    const { services } = await openServices(dir ? resolve(dir) : undefined, io, { create: sub === 'init', quiet: true })
    try {
      const info = await services['workspace.current'](undefined, cliCtx)
      if (!info) throw new AmalgamError('NOT_FOUND', 'no workspace open')
      if (values.json) { io.out(JSON.stringify(info, null, 2)); return }
      io.out(table(['workspace', 'value'], [['folder', info.dir], ['name', info.name], ['schema', String(info.schemaVersion)], ['experiments', String(info.experiments)], ['pools', String(info.pools)], ['cache', bytes(info.cacheBytes)]], { align: ['l', 'l'] }))
    } finally { await services.close() }
  },
}
export default cmd
