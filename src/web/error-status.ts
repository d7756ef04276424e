import type { ErrorCode } from '../errors'

/** The HTTP status of each error code (DESIGN §5), applied at the HTTP edge of both modes. */
export const ERROR_STATUS: Record<ErrorCode, number> = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  REJOIN_REQUIRED: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  CAPACITY_EXHAUSTED: 503,
  UPSTREAM_UNAVAILABLE: 503,
}

export const statusOf = (code: ErrorCode): number => ERROR_STATUS[code]
