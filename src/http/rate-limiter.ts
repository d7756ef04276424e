import type { Clock } from '../clock'

export interface RateDecision {
  allowed: boolean
  limit: number
  remaining: number
  /** Milliseconds until the window resets. */
  resetInMs: number
}

/** Fixed-window counter per key. Expired windows are dropped as the map grows. */
export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>()
  private nextPurge = 0

  constructor(
    private readonly options: { windowMs: number; max: number },
    private readonly clock: Clock,
  ) {}

  hit(key: string): RateDecision {
    const now = this.clock.now()
    if (now >= this.nextPurge) this.purge(now)
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

  private purge(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key)
    this.nextPurge = now + this.options.windowMs
  }
}
