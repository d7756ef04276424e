import { describe, expect, test } from 'bun:test'
import { realSleep, systemClock } from '../../src/clock'
import { AppError } from '../../src/errors'
import { QuotaGate } from '../../src/ivs/quota-gate'
import { type Limits, LocalLimits } from '../../src/store/limits'
import { peakCount } from '../support/ivs-server'

const gate = (limits: Limits, options: { limit: number; windowMs: number; maxWaitMs?: number }) =>
  new QuotaGate(
    { limits, clock: systemClock, sleep: realSleep },
    { limitOf: () => options.limit, windowMs: options.windowMs, holdMs: 2_000, maxWaitMs: options.maxWaitMs ?? 10_000, scope: 'test', pollMs: 10 },
  )

/** A call through the gate that "arrives" when it starts and takes `ms`. */
async function call(g: QuotaGate, arrivals: number[], ms: number, t0: number): Promise<{ start: number; end: number }> {
  const release = await g.acquire('Op')
  const start = performance.now() - t0
  arrivals.push(start)
  await Bun.sleep(ms)
  const end = performance.now() - t0
  release()
  return { start, end }
}

describe('QuotaGate: one quota for every instance sharing the store', () => {
  test('two instances together never exceed the limit in any window; each slot is free one window after its call ended', async () => {
    const shared = new LocalLimits()
    const [a, b] = [gate(shared, { limit: 3, windowMs: 150 }), gate(shared, { limit: 3, windowMs: 150 })]
    const arrivals: number[] = []
    const t0 = performance.now()
    const calls = await Promise.all(Array.from({ length: 12 }, (_, i) => call(i % 2 === 0 ? a! : b!, arrivals, 20, t0)))
    expect(peakCount(arrivals, 150)).toBeLessThanOrEqual(3)
    // 12 calls at 3 per window: at least three windows after the first ones.
    expect(Math.max(...arrivals)).toBeGreaterThanOrEqual(3 * 150)
    // Every start is at least one window after some earlier call's end, once the first three ran.
    const byStart = [...calls].sort((x, y) => x.start - y.start)
    for (let i = 3; i < byStart.length; i++) expect(byStart[i]!.start - byStart[i - 3]!.end).toBeGreaterThanOrEqual(145)
  })

  test('a slot is held while its call is in flight, however long that takes', async () => {
    const g = gate(new LocalLimits(), { limit: 1, windowMs: 50 })
    const arrivals: number[] = []
    const t0 = performance.now()
    const [slow, next] = await Promise.all([call(g, arrivals, 300, t0), call(g, arrivals, 0, t0)])
    expect(next.start - slow.end).toBeGreaterThanOrEqual(45)
  })

  test('another instance holding every slot: a waiter past maxWaitMs gets 503 with Retry-After; the queue beyond what can be served is refused at once', async () => {
    const shared = new LocalLimits()
    // The other instance took the only slot for a long call.
    expect(await shared.takeSlot('ivs:test:Op', 'other', 1, 100, Date.now() + 5_000, Date.now())).toBe(0)
    const g = gate(shared, { limit: 1, windowMs: 100, maxWaitMs: 200 })
    const started = performance.now()
    const waited = await g.acquire('Op').then(
      () => null,
      (e: unknown) => e,
    )
    expect(waited).toBeInstanceOf(AppError)
    expect((waited as AppError).code).toBe('UPSTREAM_UNAVAILABLE')
    expect((waited as AppError).retryAfterSeconds).toBeGreaterThanOrEqual(1)
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
    // limit 1 × (1 + 200/100) = 3 may queue; the fourth is refused without waiting.
    const burst = await Promise.allSettled(Array.from({ length: 4 }, () => g.acquire('Op')))
    expect(burst.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected'])
  })

  test('a store that cannot be reached fails the waiting calls at once (they cannot be paced fleet-wide)', async () => {
    const broken = new LocalLimits()
    broken.takeSlot = async () => {
      throw new AppError('UPSTREAM_UNAVAILABLE', 'the store is not reachable; retry shortly')
    }
    const g = gate(broken, { limit: 5, windowMs: 100 })
    const error = await g.acquire('Op').then(
      () => null,
      (e: unknown) => e,
    )
    expect((error as AppError).code).toBe('UPSTREAM_UNAVAILABLE')
  })

  test('usage: the share of the quota held now', async () => {
    const shared = new LocalLimits()
    const g = gate(shared, { limit: 4, windowMs: 1_000 })
    const release = await g.acquire('Op')
    await g.acquire('Op')
    expect(await g.usage(['Op', 'Other'])).toEqual([
      { operation: 'Op', used: 2, limit: 4 },
      { operation: 'Other', used: 0, limit: 4 },
    ])
    release()
  })
})
