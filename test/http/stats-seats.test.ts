/**
 * GET /api/stats (and stats_update, the same object) carries the seats against the fleet's ceiling
 * (MAX_STAGES × STAGE_CAPACITY) and IVS_MAX_SUBSCRIPTIONS; GET /api/stats/ivs this instance's IVS
 * calls (per instance, so not in /api/stats, which every instance reports alike): the dashboard's
 * seat and IVS panels. AWS mode's counts: test/browser/dashboard-panels.test.ts.
 */
import { expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { IvsStats, Stats } from '../../src/http/stats/model'
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
