import { expect, test } from 'bun:test'
import { RateLimiter } from '../../src/http/rate-limiter'
import { ManualClock } from '../support/clock'

test('fixed window: max requests, then refused until the window resets', () => {
  const clock = new ManualClock(0)
  const limiter = new RateLimiter({ windowMs: 1000, max: 3 }, clock)
  expect([1, 2, 3].map(() => limiter.hit('a').allowed)).toEqual([true, true, true])
  const refused = limiter.hit('a')
  expect(refused).toEqual({ allowed: false, limit: 3, remaining: 0, resetInMs: 1000 })
  expect(limiter.hit('b').allowed).toBe(true)
  clock.advance(400)
  expect(limiter.hit('a').resetInMs).toBe(600)
  clock.advance(600)
  expect(limiter.hit('a')).toEqual({ allowed: true, limit: 3, remaining: 2, resetInMs: 1000 })
})

test('expired windows are purged so the map does not grow without bound', () => {
  const clock = new ManualClock(0)
  const limiter = new RateLimiter({ windowMs: 100, max: 1 }, clock)
  for (let i = 0; i < 1000; i++) limiter.hit(`k${i}`)
  expect(limiter.size).toBe(1000)
  clock.advance(200)
  limiter.hit('fresh')
  expect(limiter.size).toBe(1)
})

test('fleet-wide limit: counted in the store; with the store unreachable, counted here, said once in the log', async () => {
  const { FleetRateLimiter } = await import('../../src/http/fleet-rate-limiter')
  const { LocalLimits } = await import('../../src/store/limits')
  const { createLogger } = await import('../../src/log')
  const clock = new ManualClock(0)
  const shared = new LocalLimits()
  const lines: string[] = []
  const logger = createLogger('info', {}, (l) => lines.push(l))
  // Two instances, one store: together they get the limit once.
  const a = new FleetRateLimiter({ limits: shared, local: new RateLimiter({ windowMs: 1000, max: 3 }, clock), clock, logger }, { windowMs: 1000, max: 3 })
  const b = new FleetRateLimiter({ limits: shared, local: new RateLimiter({ windowMs: 1000, max: 3 }, clock), clock, logger }, { windowMs: 1000, max: 3 })
  const allowed = [await a.hit('k'), await b.hit('k'), await a.hit('k'), await b.hit('k')].map((d) => d.allowed)
  expect(allowed).toEqual([true, true, true, false])
  // The store fails: each instance counts alone, and the log says so once.
  shared.countHits = async () => {
    throw new Error('store down')
  }
  const local = [await a.hit('k'), await a.hit('k'), await a.hit('k'), await a.hit('k')].map((d) => d.allowed)
  expect(local).toEqual([true, true, true, false])
  expect(lines.filter((l) => l.includes('counted per instance')).length).toBe(1)
})
