import { expect, test } from 'bun:test'
import { RateLimiter } from '../../src/web/rate-limiter'
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

test('a flood of distinct keys is capped: 1.2 million keys in one window keep at most maxKeys windows and bounded memory', () => {
  const clock = new ManualClock(0)
  const cap = 100_000
  const limiter = new RateLimiter({ windowMs: 60_000, max: 5 }, clock)
  Bun.gc(true)
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 1_200_000; i++) limiter.hit(`wrong-key-${i}:198.51.100.${i & 255}`)
  Bun.gc(true)
  const grownMb = (process.memoryUsage().heapUsed - before) / 1e6
  expect(limiter.size).toBeLessThanOrEqual(cap)
  expect(limiter.evicted).toBeGreaterThanOrEqual(1_100_000)
  // 100,000 windows of ~100 bytes; 1.2 million kept would be well over 100 MB.
  expect(grownMb).toBeLessThan(40)
  // The most recent client still has its window; an active one is not evicted by the flood.
  expect(limiter.hit('wrong-key-1199999:198.51.100.127').remaining).toBe(3)
})
