import { timingSafeEqual } from 'node:crypto'
import type { Clock } from '../clock'
import type { Logger } from '../log'
import { LruMap } from '../lru-map'
import type { Counters } from '../metrics/counters'
import { secretDigest } from './credentials'

/** The counter of requests let in with API_SECRET_KEY_PREVIOUS: `ivs_fanout_api_key_previous_used_total` on /metrics. */
export const PREVIOUS_KEY_COUNTER = 'ApiKeyPreviousUsed'

/**
 * Notes requests authenticated with the previous API key, so operators see when the last client has
 * moved to the new one: a counter, and a warning per route at most once per `warnEveryMs`, naming
 * the route and how many such requests it had since its last warning, never the key.
 */
export class PreviousKeyWatch {
  private readonly routes = new LruMap<string, { warnedAt: number; unwarned: number }>(256)

  constructor(
    private readonly deps: { counters: Counters; logger: Logger; clock: Clock },
    private readonly warnEveryMs = 60_000,
  ) {
    // The series exists from the start (at 0), so a dashboard sees it fall to zero, not vanish.
    deps.counters.add(PREVIOUS_KEY_COUNTER, 0)
  }

  used(route: string): void {
    this.deps.counters.add(PREVIOUS_KEY_COUNTER)
    const now = this.deps.clock.now()
    const seen = this.routes.get(route)
    if (seen && now - seen.warnedAt < this.warnEveryMs) {
      seen.unwarned++
      return
    }
    this.routes.set(route, { warnedAt: now, unwarned: 0 })
    this.deps.logger.warn('a request was authenticated with API_SECRET_KEY_PREVIOUS: move its client to API_SECRET_KEY before removing the previous key', {
      route,
      sinceLastWarning: (seen?.unwarned ?? 0) + 1,
    })
  }
}

/**
 * The API key (API_SECRET_KEY) and, while a rotation rolls out, the one it replaces
 * (API_SECRET_KEY_PREVIOUS): either is accepted. Compared by digest in constant time, against both
 * every time, so neither the length nor which key matched shows in the timing.
 */
export class ApiKeys {
  private readonly current: Buffer
  private readonly previous: Buffer | null

  constructor(
    current: string,
    previous: string | null = null,
    private readonly watch: PreviousKeyWatch | null = null,
  ) {
    this.current = secretDigest(current)
    this.previous = previous === null ? null : secretDigest(previous)
  }

  /** Which key `given` is, if either. */
  match(given: string | null | undefined): 'current' | 'previous' | null {
    if (typeof given !== 'string') return null
    const digest = secretDigest(given)
    const isCurrent = timingSafeEqual(digest, this.current)
    const isPrevious = this.previous !== null && timingSafeEqual(digest, this.previous)
    return isCurrent ? 'current' : isPrevious ? 'previous' : null
  }

  matches(given: string | null | undefined): boolean {
    return this.match(given) !== null
  }

  /** Once per request whose credentials passed: counts and reports it when `given` is the previous key. */
  noteUse(given: string | null | undefined, route: string): void {
    if (this.previous !== null && this.watch !== null && this.match(given) === 'previous') this.watch.used(route)
  }
}
