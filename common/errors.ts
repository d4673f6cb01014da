// Serializable errors: every failure that crosses a boundary carries a code and names what was wrong.
export type ErrorCode =
  | 'BAD_REQUEST' | 'NOT_FOUND' | 'BAD_FILE' | 'POOL_MISMATCH' | 'CANCELLED'
  | 'UNKNOWN_METHOD' | 'BAD_PARAM' | 'IO' | 'INTERNAL' | 'UNAUTHORIZED' | 'BUSY'

export interface WireError { code: ErrorCode; message: string; details?: unknown }

export class AmalgamError extends Error {
  readonly code: ErrorCode
  readonly details?: unknown
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message)
    this.name = 'AmalgamError'
    this.code = code
    this.details = details
  }
  toWire(): WireError { return { code: this.code, message: this.message, details: this.details } }
}

export function toWireError(e: unknown): WireError {
  if (e instanceof AmalgamError) return e.toWire()
  if (e && typeof e === 'object' && 'code' in e && 'message' in e && typeof (e as WireError).code === 'string' && /^[A-Z_]+$/.test((e as WireError).code)) {
    return { code: (e as WireError).code, message: String((e as WireError).message) }
  }
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) }
}

export function fromWireError(w: WireError): AmalgamError { return new AmalgamError(w.code, w.message, w.details) }

export class CancelledError extends AmalgamError {
  constructor(what = 'job') { super('CANCELLED', `${what} was cancelled`) }
}
