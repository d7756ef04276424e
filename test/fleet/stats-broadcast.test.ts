import { expect, test } from 'bun:test'
import type { FleetStats } from '../../src/fleet/stats'
import { type StatsAudience, StatsBroadcast } from '../../src/fleet/stats-broadcast'
import { silentLogger } from '../../src/log'
import { ManualTicker } from '../support/clock'

const stats = (totalViewers: number): FleetStats => ({
  totalViewers,
  activeStages: 1,
  drainingStages: 0,
  publisherActive: false,
  capacityExhausted: false,
  capacityReason: null,
  fanoutMode: 'relay',
  activeReplications: 0,
  stages: [],
  seats: { used: totalViewers, open: 50, ceiling: 1000, maxStages: 20, stageCapacity: 50, subscriptionQuota: 10_000 },
})

function audience(listening: boolean) {
  const sent: FleetStats[] = []
  const a: StatsAudience & { listening: boolean; sent: FleetStats[] } = {
    listening,
    sent,
    hasStatsAudience: () => a.listening,
    publishStats: (s) => (sent.push(s), true),
  }
  return a
}

test('each tick reads the stats and hands them over, only while someone listens', async () => {
  const ticker = new ManualTicker()
  const listeners = audience(false)
  let reads = 0
  const broadcast = new StatsBroadcast({ read: async () => stats(++reads), audience: listeners, ticker, logger: silentLogger }, 1_000)
  broadcast.start()
  expect(ticker.intervals).toEqual([1_000])
  await ticker.fire()
  expect([reads, listeners.sent.length]).toEqual([0, 0]) // nobody listens: not even a store read
  listeners.listening = true
  await ticker.fire()
  await ticker.fire()
  expect(listeners.sent.map((s) => s.totalViewers)).toEqual([1, 2])
  await broadcast.stop()
  expect(ticker.intervals).toEqual([])
})

test('a failed read skips the round; the next one goes out', async () => {
  const ticker = new ManualTicker()
  const listeners = audience(true)
  let fail = true
  const broadcast = new StatsBroadcast(
    { read: async () => (fail ? Promise.reject(new Error('store down')) : stats(7)), audience: listeners, ticker, logger: silentLogger },
    1_000,
  )
  broadcast.start()
  await ticker.fire()
  expect(listeners.sent).toEqual([])
  fail = false
  await ticker.fire()
  expect(listeners.sent.map((s) => s.totalViewers)).toEqual([7])
  await broadcast.stop()
})

test('overlapping ticks share one round', async () => {
  const ticker = new ManualTicker()
  const listeners = audience(true)
  let release!: () => void
  let reads = 0
  const broadcast = new StatsBroadcast(
    { read: () => new Promise<FleetStats>((resolve) => (reads++, (release = () => resolve(stats(1))))), audience: listeners, ticker, logger: silentLogger },
    1_000,
  )
  const first = broadcast.tick()
  const second = broadcast.tick()
  release()
  await Promise.all([first, second])
  expect(reads).toBe(1)
  expect(listeners.sent.length).toBe(1)
})
