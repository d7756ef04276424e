import { Elysia, type TSchema, t } from 'elysia'
import { AppError, ERROR_CODES, type ErrorAction, type ErrorCode } from '../errors'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import { statusOf } from './error-status'
import { pathOf } from './request-path'

export const ok = <T>(data: T) => ({ success: true as const, data, timestamp: new Date().toISOString() })

const Timestamp = t.String({ format: 'date-time', description: 'when the response was made (ISO 8601)', example: '2026-11-23T12:00:00.000Z' })

export const Envelope = <T extends TSchema>(data: T) =>
  t.Object({ success: t.Literal(true), data, timestamp: Timestamp }, { description: data.description ?? 'success' })

/** One TypeBox literal per value, as a tuple: `t.Union(literals(LIST))` is the schema of `LIST[number]`. */
export const literals = <const T extends readonly (string | number)[]>(values: T) =>
  values.map((value) => t.Literal(value)) as { -readonly [K in keyof T]: ReturnType<typeof t.Literal<T[K]>> }

export const ErrorEnvelope = t.Object(
  {
    success: t.Literal(false),
    error: t.Object({
      // The one list of codes (src/errors.ts): a code the contract does not name cannot be documented.
      code: t.Union(literals(ERROR_CODES), { description: 'machine-readable error code', example: 'VALIDATION_ERROR' }),
      message: t.String({ description: 'what went wrong and what to fix', example: 'userId must be 1-128 characters' }),
      details: t.Optional(t.Record(t.String(), t.Unknown())),
    }),
    timestamp: Timestamp,
  },
  { description: 'every error has this shape' },
)

/** Response schemas for a route: its success envelope plus the error envelope for every error status. */
export function responses<T extends TSchema>(data: T, errors: number[] = []) {
  const out: Record<number, TSchema> = { 200: Envelope(data) }
  for (const status of [400, 401, 429, 500, ...errors]) out[status] = ErrorEnvelope
  return out as { 200: ReturnType<typeof Envelope<T>> } & Record<number, TSchema>
}

export function errorBody(code: ErrorCode, message: string, details?: Record<string, unknown>) {
  return { success: false as const, error: details ? { code, message, details } : { code, message }, timestamp: new Date().toISOString() }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

interface ValidationIssue {
  path?: string
  message?: string
  schema?: { error?: unknown }
}

/** Turns Elysia's validation error into "field: problem" messages naming each bad field. */
function describeValidation(error: { type?: string; all?: ValidationIssue[] }) {
  const fields = (error.all ?? []).map((issue) => {
    const custom = typeof issue.schema?.error === 'string' ? issue.schema.error : null
    // Values Elysia coerces (numeric strings) are checked on their own and lose their path; our
    // custom messages start with the field name, so that names the field instead.
    const field =
      (issue.path ?? '').replace(/^\//, '').replace(/\//g, '.') || custom?.match(/^([A-Za-z][\w.]*) /)?.[1] || (error.type === 'body' ? 'body' : 'request')
    const message = custom ?? `${field}: ${lowerFirst(issue.message ?? 'is invalid')}`
    return { field, message }
  })
  const unique = [...new Map(fields.map((f) => [f.field + f.message, f])).values()]
  const message =
    unique.length > 0
      ? unique
          .map((f) => f.message)
          .slice(0, 5)
          .join('; ')
      : 'request is invalid'
  return { message, details: { fields: unique } }
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1)

export interface EnvelopeOptions {
  logger: Logger
  counters: Counters
  /** What a caller of this API should do for a domain error's `details.action` (e.g. which route to call). */
  actionHint?(action: ErrorAction): string | undefined
  /** Sees every AppError answered (the guess budget charges credential failures here). */
  observe?(error: AppError, request: Request): void
}

/**
 * Request ids, and the one error envelope for everything: our AppErrors, Elysia's own
 * validation/parse/not-found errors, and anything unexpected (500 without stack or secret).
 */
export function envelope({ logger, counters, actionHint, observe }: EnvelopeOptions) {
  return new Elysia({ name: 'envelope' })
    .onRequest(({ request, set }) => {
      const incoming = request.headers.get('x-request-id')
      set.headers['x-request-id'] = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID()
    })
    .onError({ as: 'global' }, ({ code, error, set, request }) => {
      set.headers['content-type'] = 'application/json'
      const { status, body } = toErrorResponse(code, error, request, set.headers['x-request-id'], logger, actionHint)
      set.status = status
      const appError =
        error instanceof AppError ? error : code === 'PARSE' && (error as Error).cause instanceof AppError ? ((error as Error).cause as AppError) : null
      if (appError && observe) observe(appError, request)
      // A body that did not arrive in time, or that nobody read (refused at its headers: 401, 429, 413,
      // 404…), may still be arriving: end the connection rather than let a client trickle it for ever.
      if (appError?.code === 'REQUEST_TIMEOUT' || unreadBody(request)) set.headers.connection = 'close'
      if (error instanceof AppError && error.retryAfterSeconds !== undefined) set.headers['retry-after'] = String(error.retryAfterSeconds)
      counters.add('Errors', 1, { code: body.error.code })
      return body
    })
}

/** The request declares a body that has not been read. */
const unreadBody = (request: Request) =>
  !request.bodyUsed && (request.headers.has('transfer-encoding') || Number(request.headers.get('content-length') ?? 0) > 0)

function toErrorResponse(code: unknown, error: unknown, request: Request, requestId: unknown, logger: Logger, actionHint: EnvelopeOptions['actionHint']) {
  // Errors thrown by our body parser reach here wrapped in Elysia's ParseError.
  if (code === 'PARSE' && (error as Error).cause instanceof AppError) error = (error as Error).cause
  if (error instanceof AppError) {
    const action = error.details?.action
    const hint = action ? actionHint?.(action) : undefined
    return { status: statusOf(error.code), body: errorBody(error.code, hint ? `${error.message}; ${hint}` : error.message, error.details) }
  }
  switch (code) {
    case 'VALIDATION': {
      const { message, details } = describeValidation(error as never)
      return { status: 400, body: errorBody('VALIDATION_ERROR', message, details) }
    }
    case 'PARSE':
      return { status: 400, body: errorBody('VALIDATION_ERROR', 'request body could not be parsed; send a JSON object with Content-Type: application/json') }
    case 'NOT_FOUND':
      return { status: 404, body: errorBody('NOT_FOUND', `no route for ${request.method} ${pathOf(request.url)}`) }
    case 'INVALID_COOKIE_SIGNATURE':
    case 'INVALID_FILE_TYPE':
      return { status: 400, body: errorBody('VALIDATION_ERROR', 'request is invalid') }
  }
  logger.error('unhandled error', { requestId, method: request.method, path: pathOf(request.url), error })
  return {
    status: statusOf('INTERNAL_ERROR'),
    body: errorBody('INTERNAL_ERROR', `internal error; quote request id ${requestId} to the operator`, { requestId }),
  }
}
