import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')

/** ELECTRON_PATH, or the binary the electron package downloaded (node_modules/electron/path.txt + dist/). */
export function electronBinary(): string | null {
  if (process.env.ELECTRON_PATH) return existsSync(process.env.ELECTRON_PATH) ? process.env.ELECTRON_PATH : null
  const pkg = join(root, 'node_modules/electron')
  const pathTxt = join(pkg, 'path.txt')
  if (!existsSync(pathTxt)) return null
  const exe = join(pkg, 'dist', readFileSync(pathTxt, 'utf8').trim())
  return existsSync(exe) ? exe : null
}

