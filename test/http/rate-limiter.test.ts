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
