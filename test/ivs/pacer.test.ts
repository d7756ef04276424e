import { describe, expect, test } from 'bun:test'
import { systemClock } from '../../src/clock'
import { AppError } from '../../src/errors'
import { CallPacer } from '../../src/ivs/pacer'

const pacer = (limit: number, windowMs: number, maxWaitMs = 10_000) => new CallPacer({ limit, windowMs, maxWaitMs, clock: systemClock, name: 'Test' })

describe('CallPacer', () => {
  test('lets `limit` calls through per window, in arrival order, each slot free a window after its call ended', async () => {
    const p = pacer(3, 150)
    const t0 = performance.now()
    const order: number[] = []
    const startedAt: number[] = []
    const endedAt: number[] = []
    await Promise.all(
      Array.from({ length: 7 }, async (_, i) => {
        const release = await p.acquire()
        order.push(i)
        startedAt.push(performance.now() - t0)
        await Bun.sleep(30) // the call itself
        endedAt[i] = performance.now() - t0
        release()
      }),
    )
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(startedAt[2]!).toBeLessThan(50) // the first three at once
    for (let i = 3; i < 7; i++) expect(startedAt[i]! - endedAt[i - 3]!).toBeGreaterThanOrEqual(149)
  })

  test('a slot is held while its call is in flight, however long that takes', async () => {
    const p = pacer(1, 50)
    const release = await p.acquire()
    let second = false
    const next = p.acquire().then((r) => {
      second = true
      return r
    })
    await Bun.sleep(120)
    expect(second).toBe(false)
    release()
    await Bun.sleep(20)
    expect(second).toBe(false) // still inside the window after the first call ended
    ;(await next)()
    expect(second).toBe(true)
  })

  test('a caller whose turn is further away than maxWaitMs is refused at once with a Retry-After', async () => {
    const p = pacer(2, 1000, 1500)
    const admitted = [p.acquire(), p.acquire(), p.acquire(), p.acquire()] // now, now, +1 s, +1 s
    const error = await p.acquire().then(
      () => null,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).code).toBe('UPSTREAM_UNAVAILABLE')
    expect((error as AppError).retryAfterSeconds).toBe(2)
    expect(p.queued).toBe(2)
    for (const release of await Promise.all(admitted.slice(0, 2))) release()
    for (const release of await Promise.all(admitted.slice(2))) release()
  })
})
