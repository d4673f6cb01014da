// tfjs-node(-gpu) 4.22.0 calls util.isNullOrUndefined and util.isArray, which Node 23 removed
// (tensorflow/tfjs#8609). Define them before the dynamic import; a no-op on Node ≤ 22.
import util from 'node:util'

export function applyTfjsNodeShim(): boolean {
  const u = util as unknown as Record<string, unknown>
  let patched = false
  if (typeof u.isNullOrUndefined !== 'function') { u.isNullOrUndefined = (v: unknown) => v === null || v === undefined; patched = true }
  if (typeof u.isArray !== 'function') { u.isArray = Array.isArray; patched = true }
  return patched
}
