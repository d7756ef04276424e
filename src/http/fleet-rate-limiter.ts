import type { Clock } from '../clock'
import type { Logger } from '../log'
import type { Limits } from '../store/limits'
import type { RateCounter, RateDecision, RateLimiter } from '../web/rate-limiter'

interface Pending {
  key: string
  resolve(decision: RateDecision): void
}

/**
 * The API rate limit counted in the shared store, so N instances behind a load balancer allow one
 * limit, not N. Requests arriving within `batchWindowMs` are counted in one store call (a burst of
 * heartbeats costs one round trip, not one each). When the store cannot be reached it counts in
 * this process instead, and says so once in the log, rather than failing the requests.
 */
export class FleetRateLimiter implements RateCounter {
  private degraded = false
  private pending: Pending[] = []
  private timer: Timer | null = null

  constructor(
    private readonly deps: { limits: Limits; local: RateLimiter; clock: Clock; logger: Logger },
    private readonly options: { windowMs: number; max: number; batchWindowMs?: number },
  ) {}

  hit(key: string): Promise<RateDecision> {
    return new Promise((resolve) => {
      this.pending.push({ key, resolve })
      this.timer ??= setTimeout(() => void this.flush(), this.options.batchWindowMs ?? 2)
    })
  }

  private async flush(): Promise<void> {
    this.timer = null
    const batch = this.pending
    this.pending = []
    const { max, windowMs } = this.options
    try {
      const counts = await this.deps.limits.countHits(
        batch.map((p) => `api:${p.key}`),
        windowMs,
        this.deps.clock.now(),
      )
      if (this.degraded) {
        this.degraded = false
        this.deps.logger.info('rate limit counted fleet-wide again')
      }
      batch.forEach((p, i) => {
        const { count, resetInMs } = counts[i]!
        p.resolve({ allowed: count <= max, limit: max, remaining: Math.max(0, max - count), resetInMs })
      })
    } catch {
      if (!this.degraded) {
        this.degraded = true
        this.deps.logger.warn('rate limit counted per instance: the store is not reachable')
      }
      for (const p of batch) p.resolve(this.deps.local.hit(p.key))
    }
  }
}
