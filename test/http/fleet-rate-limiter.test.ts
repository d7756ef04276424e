import { describe, expect, test } from 'bun:test'
import { FleetRateLimiter } from '../../src/http/fleet-rate-limiter'
import { createLogger } from '../../src/log'
import { LocalLimits } from '../../src/store/limits'
import { RateLimiter } from '../../src/web/rate-limiter'
import { ManualClock } from '../support/clock'

const WINDOW = { windowMs: 60_000, max: 3 }

/** The store's limits, recording each countHits round trip (the names it carried) and failing on demand. */
class SharedLimits extends LocalLimits {
  readonly calls: string[][] = []
  down = false

  override async countHits(names: string[], windowMs: number, now: number) {
    this.calls.push(names)
    if (this.down) throw new Error('store down')
    return super.countHits(names, windowMs, now)
  }
}

function instance(shared: SharedLimits, clock: ManualClock, batchWindowMs?: number) {
  const lines: { level: string; msg: string }[] = []
  const logger = createLogger('info', {}, (line) => lines.push(JSON.parse(line)))
  const limiter = new FleetRateLimiter({ limits: shared, local: new RateLimiter(WINDOW, clock), clock, logger }, { ...WINDOW, batchWindowMs })
  return { limiter, lines }
}

const allowed = (decisions: { allowed: boolean }[]) => decisions.map((d) => d.allowed)

describe('FleetRateLimiter: the API rate limit counted in the store', () => {
  test('hits arriving together are one store call; each gets its own count, per key', async () => {
    const clock = new ManualClock(0)
    const shared = new SharedLimits()
    const { limiter } = instance(shared, clock)
    const decisions = await Promise.all(['a', 'b', 'a', 'a', 'a', 'b'].map((key) => limiter.hit(key)))
    expect(shared.calls).toEqual([['api:a', 'api:b', 'api:a', 'api:a', 'api:a', 'api:b']])
    expect(decisions.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
      [true, 1],
    ])
    expect(decisions.every((d) => d.limit === 3 && d.resetInMs === 60_000)).toBe(true)
  })

  test('hits further apart than the batch window are separate calls; the window resets by the clock', async () => {
    const clock = new ManualClock(0)
    const shared = new SharedLimits()
    const { limiter } = instance(shared, clock, 5)
    expect((await limiter.hit('k')).remaining).toBe(2)
    clock.advance(20_000)
    expect(await limiter.hit('k')).toEqual({ allowed: true, limit: 3, remaining: 1, resetInMs: 40_000 })
    expect(shared.calls).toEqual([['api:k'], ['api:k']])
    expect(allowed([await limiter.hit('k'), await limiter.hit('k')])).toEqual([true, false])
    clock.advance(40_000)
    expect(await limiter.hit('k')).toEqual({ allowed: true, limit: 3, remaining: 2, resetInMs: 60_000 })
  })

  test('two instances on one store share one limit', async () => {
    const clock = new ManualClock(0)
    const shared = new SharedLimits()
    const a = instance(shared, clock).limiter
    const b = instance(shared, clock).limiter
    const decisions = await Promise.all([a.hit('k'), b.hit('k'), a.hit('k'), b.hit('k')])
    expect(allowed(decisions)).toEqual([true, true, true, false])
    expect(shared.calls).toHaveLength(2) // one per instance
  })

  test('the store unreachable: counted in this process (said once), then fleet-wide again when it answers (said once)', async () => {
    const clock = new ManualClock(0)
    const shared = new SharedLimits()
    const { limiter, lines } = instance(shared, clock)
    expect(allowed(await Promise.all([limiter.hit('k'), limiter.hit('k')]))).toEqual([true, true]) // the store holds 2

    shared.down = true
    // The local window starts at 0: three more are allowed here, and the store does not see them.
    const local = await Promise.all([limiter.hit('k'), limiter.hit('k'), limiter.hit('k'), limiter.hit('k')])
    expect(allowed(local)).toEqual([true, true, true, false])
    expect(local.map((d) => d.remaining)).toEqual([2, 1, 0, 0])
    expect(allowed([await limiter.hit('other')])).toEqual([true]) // a single hit is a batch of its own
    expect(shared.calls).toHaveLength(3) // each batch still tried the store first
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['rate limit counted per instance: the store is not reachable'])

    shared.down = false
    // Back in the store, where 'k' still counts 2: one more allowed, then refused.
    expect(allowed(await Promise.all([limiter.hit('k'), limiter.hit('k')]))).toEqual([true, false])
    expect(allowed([await limiter.hit('k')])).toEqual([false])
    expect(lines.filter((l) => l.msg === 'rate limit counted fleet-wide again')).toHaveLength(1)
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1)
  })
})
