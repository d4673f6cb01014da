import type { Command } from '../main'
import { setKeepAlive } from '../main'

const cmd: Command = {
  summary: 'serve the workbench UI and the engine (WebSocket) on 127.0.0.1 with a random token',
  usage: 'amalgam serve [--workspace DIR] [--port N] [--token HEX] [--static DIR]\n\nThe UI must be built first (npm run build); the URL with its token is printed on start.',
  async run(argv) {
    const { runServeCommand } = await import('../../hosts/server')
    setKeepAlive(true)
    await runServeCommand(argv)
  },
}
export default cmd
