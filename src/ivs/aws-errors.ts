import { AppError } from '../errors'

/** Why an attempt may succeed if repeated. */
export type TransientReason = 'throttled' | 'server-error' | 'timeout' | 'network'

export type IvsFailure = { kind: 'transient'; reason: TransientReason; description: string } | { kind: 'final'; error: Error; upstreamMessage?: string }

export interface FailureContext {
  operation: string
  /** What the call was about, e.g. `stage arn:…`, for NOT_FOUND messages. */
  subject?: string
  /** The attempt was aborted by our own per-attempt timeout. */
  timedOut: boolean
  timeoutMs: number
}

interface AwsErrorShape {
  name?: string
  code?: unknown
  exceptionMessage?: unknown
  $metadata?: { httpStatusCode?: number }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException'])
/** Unmodeled in the ivs-realtime SDK, so they arrive as the base exception with this name. */
const THROTTLING_NAMES = new Set(['ThrottlingException', 'TooManyRequestsException', 'Throttling', 'RequestLimitExceeded'])

/**
 * What a 402 ServiceQuotaExceededException means, by operation, as `details.reason`. CreateStage's
 * (the account's stage quota) carries none: the fleet reads it as the stage quota.
 */
const QUOTA_REASONS: Readonly<Record<string, string>> = {
  // At most 5 concurrent replications per participant (fixed).
  StartParticipantReplication: 'replication-quota',
}

/** Removes anything shaped like AWS key material (upstream messages can echo a canonical request). */
export function redactSecrets(text: string): string {
  return text
    .replace(/Credential=[^,\s]+/g, 'Credential=[redacted]')
    .replace(/Signature=[0-9a-fA-F]+/g, 'Signature=[redacted]')
    .replace(/\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA)[A-Z0-9]{12,}\b/g, '[redacted]')
    .replace(/[A-Za-z0-9/+=]{40,}/g, '[redacted]')
}

/** Sorts an error from `IVSRealTimeClient.send` into "try again" or a final AppError. */
export function classifyIvsError(error: unknown, context: FailureContext): IvsFailure {
  const { operation } = context
  if (context.timedOut) {
    return { kind: 'transient', reason: 'timeout', description: `no answer from IVS within ${context.timeoutMs} ms` }
  }
  if (!(error instanceof Error)) return { kind: 'final', error: new Error(String(error)) }
  const shaped = error as Error & AwsErrorShape
  const status = shaped.$metadata?.httpStatusCode
  const name = shaped.name ?? 'Error'
  const upstreamMessage = typeof shaped.exceptionMessage === 'string' ? redactSecrets(shaped.exceptionMessage) : undefined

  if (status === undefined) {
    if (name === 'CredentialsProviderError') {
      return {
        kind: 'final',
        error: new AppError(
          'UPSTREAM_UNAVAILABLE',
          'no AWS credentials found for IVS: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or another source of the default chain)',
        ),
      }
    }
    if (TIMEOUT_NAMES.has(name)) return { kind: 'transient', reason: 'timeout', description: `IVS request timed out (${name})` }
    if (typeof shaped.code === 'string' && NETWORK_CODES.has(shaped.code)) {
      return { kind: 'transient', reason: 'network', description: `cannot reach IVS (${shaped.code})` }
    }
    // Not an answer from IVS nor a transport failure: a bug here, not IVS being down.
    return { kind: 'final', error }
  }

  if (status === 429 || THROTTLING_NAMES.has(name)) {
    return { kind: 'transient', reason: 'throttled', description: `IVS throttled ${operation} (${name})` }
  }
  if (status >= 500) return { kind: 'transient', reason: 'server-error', description: `IVS answered ${operation} with HTTP ${status} (${name})` }

  const final = (appError: AppError): IvsFailure => ({ kind: 'final', error: appError, upstreamMessage })
  const detail = upstreamMessage ? `: ${upstreamMessage}` : ''
  const details = { upstreamError: name }
  switch (name) {
    case 'ResourceNotFoundException':
      return final(new AppError('NOT_FOUND', `${context.subject ?? 'resource'} not found at IVS`, details))
    case 'ValidationException':
      return final(new AppError('VALIDATION_ERROR', `IVS rejected ${operation}${detail}`, details))
    case 'ConflictException':
      return final(new AppError('CONFLICT', `IVS refused ${operation} because of a conflict${detail}`, details))
    case 'ServiceQuotaExceededException': {
      const reason = QUOTA_REASONS[operation]
      return final(new AppError('CAPACITY_EXHAUSTED', `IVS service quota exceeded for ${operation}${detail}`, reason ? { ...details, reason } : details, 30))
    }
    case 'AccessDeniedException':
      return final(
        new AppError(
          'UPSTREAM_UNAVAILABLE',
          `IVS denied access to ${operation}: check that the IAM policy of this server's AWS credentials allows ivs:${operation}`,
          details,
        ),
      )
    case 'PendingVerification':
      return final(new AppError('UPSTREAM_UNAVAILABLE', `IVS refused ${operation}: the AWS account is pending verification`, details))
    default:
      // Unmodeled 4xx are mostly credential problems (UnrecognizedClientException, InvalidSignatureException,
      // ExpiredTokenException); their text can echo the signed request, so it is not passed on.
      return final(
        new AppError('UPSTREAM_UNAVAILABLE', `IVS rejected ${operation} (${name}, HTTP ${status}): check this server's AWS credentials and region`, details),
      )
  }
}
