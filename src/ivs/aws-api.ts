import { IVSRealTimeClient, type IVSRealTimeClientConfig } from '@aws-sdk/client-ivs-realtime'
import { type Clock, type Sleep, systemClock } from '../clock'
import { AppError, type ErrorCode } from '../errors'
import { type Logger, silentLogger } from '../log'
import { type Limits, LocalLimits } from '../store/limits'
import { classifyIvsError } from './aws-errors'
import { type IvsOperationName, SERVE_OPERATIONS } from './operations'
import { QuotaGate } from './quota-gate'

export interface IvsClientOptions {
  region: string
  /** IVS_ENDPOINT: a wire-compatible server instead of AWS's endpoint for the region. */
  endpoint?: string | null
  /** Defaults to the SDK's credential chain. */
  credentials?: IVSRealTimeClientConfig['credentials']
}

/** The SDK client IvsRealTimeApi expects: the SDK's own retries are off, IvsRealTimeApi retries. */
export function createIvsRealTimeClient(options: IvsClientOptions): IVSRealTimeClient {
  return new IVSRealTimeClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Retries with the SDK's strategy on top of ours would multiply attempts and bypass the quota gate.
    maxAttempts: 1,
  })
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number
  /** Backoff before the second attempt is between half of this and this, then doubles. */
  baseDelayMs: number
  /** The same for throttling answers (the SDK's standard mode also backs off longer on those). */
  throttledBaseDelayMs: number
  maxDelayMs: number
  /** Sum of all backoff sleeps of one call: bounds how long a failing call takes. */
  maxTotalDelayMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 100,
  throttledBaseDelayMs: 400,
  maxDelayMs: 1000,
  maxTotalDelayMs: 1800,
}

/**
 * Per account and region (DESIGN §12). Every other operation gets the stage operations' 5 TPS, the
 * participant replication ones too (their rate is undocumented).
 */
export const IVS_RATE_QUOTAS: Readonly<Record<string, number>> = { CreateParticipantToken: 50, ImportPublicKey: 3 }
export const IVS_DEFAULT_RATE_QUOTA = 5

export interface IvsRealTimeApiOptions {
  client: IVSRealTimeClient
  logger?: Logger
  clock?: Clock
  retry?: Partial<RetryPolicy>
  /** An attempt that takes longer is aborted and counts as a network failure. */
  attemptTimeoutMs?: number
  /** Calls of each operation IVS may receive per second from the whole fleet; default IVS's quotas. */
  ratePerSecond?: Partial<Record<string, number>>
  /** Added to IVS's 1 s window when pacing, for clock granularity and an aborted call that still arrives. */
  windowMarginMs?: number
  /** A call that would wait longer than this for its pacing slot is refused with 503. */
  maxQueueWaitMs?: number
  /** Where the quota windows are kept: the shared store's limits, so N instances pace as one (default: this process only). */
  limits?: Limits
  /** Names the account in the gate's keys (default the region). */
  scope?: string
  /** Backoff between retries (tests skip it). */
  sleep?: Sleep
  /** Waiting for a quota slot (always real time in production). */
  gateSleep?: Sleep
  random?: () => number
  observer?: IvsCallObserver
}

export type IvsCallOutcome = 'ok' | 'throttled' | 'error'

/** What metrics want to know: every attempt's outcome, and how long calls waited for the quota gate. */
export interface IvsCallObserver {
  attempt?(operation: string, outcome: IvsCallOutcome): void
  waited?(operation: string, ms: number): void
}

export interface CallOptions {
  /** What the call is about, for NOT_FOUND messages (e.g. `stage arn:…`). */
  subject?: string
  maxAttempts?: number
  /** Final errors with these codes are the caller's to judge, so they are not logged as warnings (NOT_FOUND never is). */
  expected?: readonly ErrorCode[]
}

const defaultSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The ivs-realtime API as this server uses it: one SDK client, each operation paced to the
 * account's rate quota, bounded retries with backoff and jitter on throttling, 5xx and network
 * failures, and every other failure turned into an AppError. Share one instance between the stage
 * provider and the token issuer so the quotas are shared too.
 */
export class IvsRealTimeApi {
  readonly client: IVSRealTimeClient
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly retry: RetryPolicy
  private readonly attemptTimeoutMs: number
  private readonly sleep: Sleep
  private readonly random: () => number
  private readonly gate: QuotaGate

  constructor(private readonly options: IvsRealTimeApiOptions) {
    this.client = options.client
    this.logger = options.logger ?? silentLogger
    this.clock = options.clock ?? systemClock
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry }
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 3000
    this.sleep = options.sleep ?? defaultSleep
    this.random = options.random ?? Math.random
    this.gate = new QuotaGate(
      { limits: options.limits ?? new LocalLimits(), clock: this.clock, sleep: options.gateSleep ?? defaultSleep, observer: options.observer },
      {
        limitOf: (operation) => this.options.ratePerSecond?.[operation] ?? IVS_RATE_QUOTAS[operation] ?? IVS_DEFAULT_RATE_QUOTA,
        windowMs: 1000 + (this.options.windowMarginMs ?? 20),
        holdMs: this.attemptTimeoutMs + 1000,
        maxWaitMs: this.options.maxQueueWaitMs ?? 30_000,
        scope: options.scope ?? 'default',
      },
    )
  }

  /** The operations this server calls, for quota metrics (src/ivs/operations.ts lists them). */
  static readonly OPERATIONS = SERVE_OPERATIONS

  /** How much of each operation's quota the fleet uses now (slots in the window / limit). */
  quotaUsage(): Promise<{ operation: string; used: number; limit: number }[]> {
    return this.gate.usage(IvsRealTimeApi.OPERATIONS)
  }

  /** Runs `send` (one SDK call, given the attempt's abort signal) with pacing, retries and error mapping. */
  async call<T>(operation: IvsOperationName, send: (abortSignal: AbortSignal) => Promise<T>, options: CallOptions = {}): Promise<T> {
    const maxAttempts = options.maxAttempts ?? this.retry.maxAttempts
    let sleptMs = 0
    for (let attempt = 1; ; attempt++) {
      const release = await this.gate.acquire(operation)
      const abort = new AbortController()
      const timer = setTimeout(() => abort.abort(), this.attemptTimeoutMs)
      let failure: ReturnType<typeof classifyIvsError>
      try {
        const answer = await send(abort.signal)
        this.options.observer?.attempt?.(operation, 'ok')
        return answer
      } catch (error) {
        failure = classifyIvsError(error, { operation, subject: options.subject, timedOut: abort.signal.aborted, timeoutMs: this.attemptTimeoutMs })
        this.options.observer?.attempt?.(operation, failure.kind === 'transient' && failure.reason === 'throttled' ? 'throttled' : 'error')
      } finally {
        clearTimeout(timer)
        release()
      }
      if (failure.kind === 'final') {
        if (failure.error instanceof AppError && failure.error.code !== 'NOT_FOUND' && !options.expected?.includes(failure.error.code)) {
          this.logger.warn('ivs call failed', { operation, code: failure.error.code, upstreamMessage: failure.upstreamMessage })
        }
        throw failure.error
      }
      const delayMs = attempt < maxAttempts ? this.backoffMs(attempt, failure.reason === 'throttled', this.retry.maxTotalDelayMs - sleptMs) : 0
      if (delayMs <= 0) {
        this.logger.warn('ivs call gave up', { operation, attempts: attempt, reason: failure.reason })
        throw new AppError(
          'UPSTREAM_UNAVAILABLE',
          `IVS ${operation} failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${failure.description}`,
          { operation, reason: failure.reason, attempts: attempt },
          failure.reason === 'throttled' ? 1 : 5,
        )
      }
      this.logger.debug('ivs call retried', { operation, attempt, reason: failure.reason, delayMs })
      await this.sleep(delayMs)
      sleptMs += delayMs
    }
  }

  /** "Equal jitter": half the exponential step fixed, half random, so retries spread out but never come at once. */
  private backoffMs(attempt: number, throttled: boolean, budgetMs: number): number {
    const base = throttled ? this.retry.throttledBaseDelayMs : this.retry.baseDelayMs
    const step = Math.min(this.retry.maxDelayMs, base * 2 ** (attempt - 1))
    return Math.min(budgetMs, Math.round(step / 2 + (this.random() * step) / 2))
  }
}
