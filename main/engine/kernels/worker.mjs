// worker_threads entry for the parallel kernels: receives { id, op, args, start, end } whose typed
// arrays live on SharedArrayBuffers (structured clone shares them, no copy) and runs one range.
import { parentPort } from 'node:worker_threads'
import { KERNELS } from './core.mjs'

parentPort.on('message', (msg) => {
  try {
    KERNELS[msg.op](msg.args, msg.start, msg.end)
    parentPort.postMessage({ id: msg.id })
  } catch (e) {
    parentPort.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) })
  }
})
