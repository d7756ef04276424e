import type { Clock } from '../clock'
import { AppError } from '../errors'
import { LruMap } from '../lru-map'

export interface RateDecision {
  allowed: boolean
  limit: number
  remaining: number
  /** Milliseconds until the window resets. */
  resetInMs: number
}

/** Anything that answers "may this key make one more request?" (this process's limiter, or one counted in the shared store). */
export interface RateCounter {
  hit(key: string): RateDecision | Promise<RateDecision>
}

/** Keys counted at once by default: ~100 bytes each, so the limiter stays around 10 MB whatever the flood. */
export const MAX_RATE_KEYS = 100_000

/**
 * Fixed-window counter per key, in this process. At most `maxKeys` windows are kept: expired ones
 * are dropped as time passes, and past the cap the least recently used go first (so a flood of
 * distinct keys cannot grow memory, and an active client keeps its window).
 */
export class RateLimiter {
  private readonly windows: LruMap<string, { count: number; resetAt: number }>
  private nextPurge = 0

  constructor(
    private readonly options: { windowMs: number; max: number; maxKeys?: number },
    private readonly clock: Clock,
  ) {
    this.windows = new LruMap(options.maxKeys ?? MAX_RATE_KEYS)
  }

  hit(key: string): RateDecision {
    const now = this.clock.now()
    if (now >= this.nextPurge) {
      this.windows.prune((window) => window.resetAt <= now)
      this.nextPurge = now + this.options.windowMs
    }
    let window = this.windows.get(key)
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + this.options.windowMs }
      this.windows.set(key, window)
    }
    window.count++
    const { max } = this.options
    return { allowed: window.count <= max, limit: max, remaining: Math.max(0, max - window.count), resetInMs: window.resetAt - now }
  }

  get size(): number {
    return this.windows.size
  }

  /** Windows dropped to stay under the cap. */
  get evicted(): number {
    return this.windows.evicted
  }
}

/** Puts a decision in the RateLimit-* headers, and refuses with 429 (and Retry-After) when it is over. */
export function enforce(decision: RateDecision, set: { headers: Record<string, unknown> }): void {
  const resetSeconds = Math.ceil(decision.resetInMs / 1000)
  set.headers['ratelimit-limit'] = String(decision.limit)
  set.headers['ratelimit-remaining'] = String(decision.remaining)
  set.headers['ratelimit-reset'] = String(resetSeconds)
  if (!decision.allowed) {
    throw new AppError('RATE_LIMITED', `rate limit of ${decision.limit} requests exceeded; retry in ${resetSeconds} s`, undefined, resetSeconds)
  }
}
