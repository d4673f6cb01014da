// `amalgam` entry: dispatch to one module per subcommand. Contract: exit 0 on success; otherwise
// a one-line error on stderr and a non-zero exit; with --json, the JSON is the only thing on stdout.
import { AmalgamError, toWireError } from '#common/errors'

export interface Io { out(s: string): void; err(s: string): void }
export type Command = { summary: string; usage: string; run(argv: string[], io: Io): Promise<number | void> }

const commands: Record<string, () => Promise<Command>> = {
  doctor: async () => (await import('./commands/doctor')).default,
  inspect: async () => (await import('./commands/inspect')).default,
  check: async () => (await import('./commands/check')).default,
  methods: async () => (await import('./commands/methods')).default,
  merge: async () => (await import('./commands/merge')).default,
  bench: async () => (await import('./commands/bench')).default,
  workspace: async () => (await import('./commands/workspace')).default,
  run: async () => (await import('./commands/run')).default,
  history: async () => (await import('./commands/history')).default,
  compare: async () => (await import('./commands/compare')).default,
  export: async () => (await import('./commands/export')).default,
  serve: async () => (await import('./commands/serve')).default,
}

async function help(io: Io): Promise<void> {
  const lines = ['amalgam — multi-task model merging workbench', '', 'Usage: amalgam <command> [options]', '']
  for (const [name, load] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${(await load()).summary}`)
  lines.push('', 'Run `amalgam <command> --help` for a command\'s options.')
  io.out(lines.join('\n'))
}

export async function main(argv: string[], io: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') }): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') { await help(io); return 0 }
  if (name === '--version') { io.out((await import('../engine/version')).ENGINE_VERSION); return 0 }
  const load = commands[name]
  if (!load) { io.err(`amalgam: unknown command "${name}" (try amalgam --help)`); return 2 }
  const cmd = await load()
  if (rest.includes('--help') || rest.includes('-h')) { io.out(cmd.usage); return 0 }
  try {
    const code = await cmd.run(rest, io)
    return typeof code === 'number' ? code : 0
  } catch (e) {
    const w = toWireError(e)
    const msg = w.message.split('\n')[0]
    io.err(`amalgam ${name}: ${msg}`)
    if (process.env.AMALGAM_DEBUG && e instanceof Error) io.err(e.stack ?? '')
    return e instanceof AmalgamError && (e.code === 'BAD_REQUEST') ? 2 : 1
  }
}

/** `serve` keeps the process alive; every other command exits once done (wasm/worker handles can linger). */
export let keepAlive = false
export function setKeepAlive(v: boolean): void { keepAlive = v }
