/**
 * What the test IVS server's operations share: its errors (the `x-amzn-ErrorType` names and their
 * statuses) and the checks of request bodies, as the ivs-realtime model states them.
 */
export const IVS_ERROR_STATUS = {
  ValidationException: 400,
  AccessDeniedException: 403,
  PendingVerification: 403,
  ResourceNotFoundException: 404,
  ConflictException: 409,
  ServiceQuotaExceededException: 402,
  ThrottlingException: 429,
  InternalServerException: 500,
  // Not in the ivs-realtime model: AWS's front end answers it for an unknown access key.
  UnrecognizedClientException: 403,
} as const

export type IvsErrorType = keyof typeof IVS_ERROR_STATUS

/** Thrown by a handler: answered as `type` with its status and `{"exceptionMessage": message}`. */
export class IvsError extends Error {
  constructor(
    readonly type: IvsErrorType,
    message: string,
  ) {
    super(message)
  }
}

export type Body = Record<string, unknown>

export const STAGE_NAME = /^[a-zA-Z0-9-_]*$/
export const STAGE_ARN = /^arn:aws:ivs:[a-z0-9-]+:[0-9]+:stage\/[a-zA-Z0-9-]+$/
/** The model's ParticipantId (replication operations): no `_`, unlike CreateParticipantToken's ids. */
export const PARTICIPANT_ID = /^[a-zA-Z0-9-]*$/
/** The model's StageSessionId: `st-` and 13 letters or digits (fixed length 16). */
export const SESSION_ID = /^st-[a-zA-Z0-9]{13}$/

export function optionalString(body: Body, field: string, max: number, pattern?: RegExp): string | undefined {
  const value = body[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.length > max || (pattern && !pattern.test(value))) {
    throw new IvsError('ValidationException', `${field} is invalid`)
  }
  return value
}

export function requiredString(body: Body, field: string, max: number, pattern?: RegExp): string {
  const value = optionalString(body, field, max, pattern)
  if (value === undefined || value === '') throw new IvsError('ValidationException', `${field} is required`)
  return value
}

export function stringMap(body: Body, field: string, check: (entries: [string, string][]) => void): Record<string, string> {
  const value = body[field]
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw new IvsError('ValidationException', `${field} must be a map`)
  const entries = Object.entries(value as Record<string, unknown>)
  if (!entries.every((e): e is [string, string] => typeof e[1] === 'string')) throw new IvsError('ValidationException', `${field} values must be strings`)
  check(entries)
  return Object.fromEntries(entries)
}

export function validTags(entries: [string, string][]): void {
  if (entries.length > 50) throw new IvsError('ValidationException', 'at most 50 tags')
  for (const [key, value] of entries) {
    if (key.length < 1 || key.length > 128 || value.length > 256 || key.toLowerCase().startsWith('aws:')) {
      throw new IvsError('ValidationException', `tag ${key} is invalid`)
    }
  }
}

export function validAttributes(entries: [string, string][]): void {
  const size = entries.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0)
  if (size > 1024) throw new IvsError('ValidationException', 'attributes exceed 1 KB')
}

export function optionalInt(body: Body, field: string, min: number, max: number): number | undefined {
  const value = body[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new IvsError('ValidationException', `${field} must be between ${min} and ${max}`)
  }
  return value
}

/**
 * One page of `items` (in a fixed order) for `maxResults` and `nextToken`: the token is opaque to
 * the client (the position after the page), and one this server did not issue is a 400.
 */
export function page<T>(items: readonly T[], body: Body, defaultMax: number, limit: number): { items: T[]; nextToken?: string } {
  const maxResults = optionalInt(body, 'maxResults', 1, limit) ?? defaultMax
  const token = optionalString(body, 'nextToken', 1024, /^[a-zA-Z0-9+/=_-]*$/)
  let offset = 0
  if (token) {
    try {
      offset = Number(JSON.parse(Buffer.from(token, 'base64url').toString()).offset)
    } catch {
      offset = Number.NaN
    }
    if (!Number.isInteger(offset) || offset < 0) throw new IvsError('ValidationException', 'nextToken is invalid')
  }
  const slice = items.slice(offset, offset + maxResults)
  const next = offset + maxResults
  return { items: slice, nextToken: next < items.length ? Buffer.from(JSON.stringify({ offset: next })).toString('base64url') : undefined }
}
