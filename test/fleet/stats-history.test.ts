import { expect, test } from 'bun:test'
import type { FleetStats } from '../../src/fleet/stats'
import { StatsHistory } from '../../src/fleet/stats-history'
import { silentLogger } from '../../src/log'
import { ManualClock, ManualTicker } from '../support/clock'

const stats = (totalViewers: number): FleetStats => ({
  totalViewers,
  activeStages: Math.ceil(totalViewers / 50) || 1,
  drainingStages: 0,
  publisherActive: true,
  capacityExhausted: false,
  capacityReason: null,
  fanoutMode: 'relay',
  activeReplications: 0,
  stages: [],
  seats: { used: totalViewers, open: 50 * (Math.ceil(totalViewers / 50) || 1), ceiling: 1000, maxStages: 20, stageCapacity: 50, subscriptionQuota: 10_000 },
})

function history() {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 11))
  const ticker = new ManualTicker()
  let viewers = 0
  let failing = false
  const h = new StatsHistory({
    read: async () => {
      if (failing) throw new Error('store down')
      return stats(viewers)
    },
    clock,
    ticker,
    logger: silentLogger,
  })
  return {
    h,
    clock,
    ticker,
    set: (n: number) => void (viewers = n),
    fail: (on: boolean) => void (failing = on),
  }
}

test('a sample at start and one every 10 s, whether anyone watches or not; the figures the chart draws', async () => {
  const { h, clock, ticker, set } = history()
  const t0 = clock.now()
  h.start()
  await h.tick()
  expect(ticker.intervals).toEqual([10_000])
  expect(h.samples()).toEqual([{ at: t0, totalViewers: 0, openSeats: 50, activeStages: 1 }])
  set(70)
  clock.advance(10_000)
  await ticker.fire()
  expect(h.samples()).toEqual([
    { at: t0, totalViewers: 0, openSeats: 50, activeStages: 1 },
    { at: t0 + 10_000, totalViewers: 70, openSeats: 100, activeStages: 2 },
  ])
  await h.stop()
  expect(ticker.intervals).toEqual([])
})

test('an hour kept, no more: older samples are dropped, and the ring stays bounded however the clock moves', async () => {
  const { h, clock, ticker, set } = history()
  const t0 = clock.now()
  h.start()
  await h.tick()
  for (let i = 1; i <= 400; i++) {
    set(i)
    clock.advance(10_000)
    await ticker.fire()
  }
  const kept = h.samples()
  // 361 samples: now and every 10 s back to exactly an hour ago.
  expect(kept).toHaveLength(361)
  expect(kept[0]!.at).toBe(clock.now() - 3_600_000)
  expect(kept.at(-1)).toEqual({ at: t0 + 4_000_000, totalViewers: 400, openSeats: 400, activeStages: 8 })
  // A clock standing still (or going back) does not grow the ring past one window's worth.
  for (let i = 0; i < 1_000; i++) await ticker.fire()
  expect(h.samples().length).toBeLessThanOrEqual(361)
  expect((h as unknown as { ring: unknown[] }).ring.length).toBe(361)
})

test('a read that fails leaves a gap, and the next one goes on', async () => {
  const { h, clock, ticker, set, fail } = history()
  const t0 = clock.now()
  h.start()
  await h.tick()
  fail(true)
  clock.advance(10_000)
  await ticker.fire()
  fail(false)
  set(5)
  clock.advance(10_000)
  await ticker.fire()
  expect(h.samples().map((s) => [s.at - t0, s.totalViewers])).toEqual([
    [0, 0],
    [20_000, 5],
  ])
})
