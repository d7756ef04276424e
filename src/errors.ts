/**
 * Error codes of the API contract (DESIGN §5). The domain speaks in codes; the HTTP status each one
 * maps to lives at the HTTP edge (src/web/error-status.ts).
 */
export const ERROR_CODES = [
  'VALIDATION_ERROR',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'REJOIN_REQUIRED',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'HEADERS_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'RATE_LIMITED',
  'INTERNAL_ERROR',
  'CAPACITY_EXHAUSTED',
  'UPSTREAM_UNAVAILABLE',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

/**
 * What the caller should do next, named without transport: the HTTP layer turns it into a route
 * (e.g. `rejoin` → "call POST /api/viewer/rejoin").
 */
export type ErrorAction = 'rejoin' | 'register'

/** An error whose message is safe to show to the caller. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown> & { action?: ErrorAction },
    readonly retryAfterSeconds?: number,
  ) {
    super(message)
    this.name = 'AppError'
  }
}

export const notFound = (what: string, details?: Record<string, unknown>) => new AppError('NOT_FOUND', `${what} not found`, details)

/** The message of anything thrown, for logs. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
