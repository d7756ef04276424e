/**
 * GET /api/stats (and stats_update, the same object) carries the seats against the fleet's ceiling
 * (MAX_STAGES × STAGE_CAPACITY) and IVS_MAX_SUBSCRIPTIONS; GET /api/stats/ivs this instance's IVS
 * calls (per instance, so not in /api/stats, which every instance reports alike): the dashboard's
 * seat and IVS panels. AWS mode's counts: test/browser/dashboard-panels.test.ts. GET
 * /api/stats/history: the chart's last hour, sampled by the instance from its start.
 */
import { expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { IvsStats, Stats, StatsHistory } from '../../src/http/stats/model'
import { ManualTicker } from '../support/clock'
import { freshServer } from '../support/serve'

test('seats used, open, the ceiling and the subscription quota; the local provider reports no IVS calls', async () => {
  await using server = await freshServer({
    MAX_STAGES: '4',
    STAGE_CAPACITY: '3',
    SCALE_UP_THRESHOLD: '3',
    SCALE_DOWN_THRESHOLD: '1',
    IVS_MAX_SUBSCRIPTIONS: '10',
  })
  for (let i = 0; i < 4; i++) expect((await server.api('/api/token/viewer', { method: 'POST', json: { userId: `seat-${i}` } })).status).toBe(200)
  const stats = (await (await server.api('/api/stats')).json()).data
  expect(Value.Errors(Stats, stats).First()).toBeUndefined()
  const open = (stats.stages as { status: string; capacity: number }[]).filter((s) => s.status === 'active').reduce((sum, s) => sum + s.capacity, 0)
  expect(stats.seats).toEqual({ used: 4, open, ceiling: 12, maxStages: 4, stageCapacity: 3, subscriptionQuota: 10 })
  const ivs = (await (await server.api('/api/stats/ivs')).json()).data
  expect(Value.Errors(IvsStats, ivs).First()).toBeUndefined()
  expect(ivs).toMatchObject({ provider: 'local', totals: { attempts: 0, ok: 0, throttled: 0, errors: 0, gateWaitMs: 0 }, operations: [] })
  expect(Date.parse(ivs.since)).toBeLessThanOrEqual(Date.now())
  expect((await fetch(`${server.url}/api/stats/ivs`)).status).toBe(401)
  // The documented examples are valid answers too.
  expect(Value.Errors(Stats, Stats.example).First()).toBeUndefined()
  expect(Value.Errors(IvsStats, IvsStats.example).First()).toBeUndefined()
})

test("the last hour's samples: one from the instance's start, with the figures /api/stats reports", async () => {
  const ticker = new ManualTicker()
  await using server = await freshServer({}, { ticker })
  expect((await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'history-1' } })).status).toBe(200)
  const before = Date.now()
  const read = async () => (await (await server.api('/api/stats/history')).json()).data
  let history = await read()
  expect(Value.Errors(StatsHistory, history).First()).toBeUndefined()
  expect(Value.Errors(StatsHistory, StatsHistory.example).First()).toBeUndefined()
  expect(history).toMatchObject({ intervalMs: 10_000, windowMs: 3_600_000 })
  // The start's sample (taken before the viewer came), and since = its time.
  expect(history.samples.length).toBeGreaterThanOrEqual(1)
  expect(history.samples[0]).toMatchObject({ totalViewers: 0, openSeats: 50, activeStages: 1 })
  expect(history.since).toBe(history.samples[0].at)
  expect(Date.parse(history.since)).toBeLessThanOrEqual(before)
  expect(Date.parse(history.now)).toBeGreaterThanOrEqual(before)
  // The next sample has the viewer.
  await ticker.fire(10_000)
  history = await read()
  expect(history.samples.at(-1)).toMatchObject({ totalViewers: 1, openSeats: 50, activeStages: 1 })
  expect((await fetch(`${server.url}/api/stats/history`)).status).toBe(401)
})
