/**
 * The account's limits, as IVS (the wire-compatible server) enforces them: the stage quota
 * (ServiceQuotaExceededException on CreateStage), the concurrent-subscription quota, and the
 * publisher state read from ListParticipants when no relay reports.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createLogger } from '../../src/log'
import { ManualClock, ManualTicker } from '../support/clock'
import { type IvsServer, startIvsServer } from '../support/ivs-server'
import { startTestServer, type TestServer } from '../support/serve'

process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCALTEST'
process.env.AWS_SECRET_ACCESS_KEY = 'local-test-secret'
const API_KEY = 'quota-tests-api-key-0123456789'
let n = 0

const awsEnv = (ivs: IvsServer, extra: Record<string, string> = {}) => ({
  IVS_PROVIDER: 'aws',
  AWS_REGION: 'eu-west-1',
  IVS_ENDPOINT: ivs.url,
  API_SECRET_KEY: API_KEY,
  REDIS_KEY_PREFIX: `q${++n}:`,
  ...extra,
})
const viewer = (server: TestServer, userId: string) => server.api('/api/token/viewer', { method: 'POST', json: { userId } })

describe('account limits', () => {
  let ivs: IvsServer
  beforeAll(async () => {
    // The account may hold 2 stages: the master and one more.
    ivs = await startIvsServer({ region: 'eu-west-1', maxStages: 2 })
  })
  afterAll(() => ivs.stop())

  test('the stage quota: CAPACITY_EXHAUSTED with Retry-After and the reason, no retry storm of CreateStage', async () => {
    const ticker = new ManualTicker()
    const server = await startTestServer(awsEnv(ivs, { STAGE_CAPACITY: '1', SCALE_UP_THRESHOLD: '1', SCALE_DOWN_THRESHOLD: '0', MAX_STAGES: '10' }), { ticker })
    try {
      expect((await viewer(server, 'v0')).status).toBe(200) // the master
      expect((await viewer(server, 'v1')).status).toBe(200) // a second stage: the account's last
      ivs.resetCounts()
      const refused = await viewer(server, 'v2')
      expect(refused.status).toBe(503)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(1)
      const body = (await refused.json()).error
      expect(body.code).toBe('CAPACITY_EXHAUSTED')
      expect(body.message).toContain('IVS refused a new stage')
      expect(body.details.reason).toBe('stage-quota')
      // Twenty more viewers and a few leader rounds: still refused, and IVS is not asked again.
      const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => viewer(server, `later-${i}`).then((r) => r.status)))
      for (let i = 0; i < 3; i++) await ticker.fire()
      expect(new Set(statuses)).toEqual(new Set([503]))
      expect(ivs.calls.CreateStage).toBe(1)
      const stats = (await (await server.api('/api/stats')).json()).data
      expect(stats.capacityExhausted).toBe(true)
      expect(stats.capacityReason).toContain('IVS refused a new stage')
      const metrics = await (await server.api('/metrics')).text()
      expect(metrics).toContain('ivs_fanout_capacity_exhausted 1')
      expect(metrics).toMatch(/ivs_fanout_capacity_refusals_total\{reason="stage-quota"\} 21/)
      expect(metrics).toMatch(/ivs_fanout_ivs_calls_total\{operation="CreateStage",outcome="error"\} 1/)
      expect(metrics).toMatch(/ivs_fanout_ivs_quota_utilisation\{operation="CreateStage"\} /)
      expect(metrics).toContain('ivs_fanout_ivs_gate_wait_seconds_bucket')
    } finally {
      await server.stop()
    }
  }, 30_000)

  test('the concurrent-subscription quota: a start-up warning when the configuration exceeds it, 503 for new viewers past it', async () => {
    const lines: string[] = []
    const server = await startTestServer(
      { API_SECRET_KEY: API_KEY, IVS_MAX_SUBSCRIPTIONS: '3', STAGE_CAPACITY: '50', MAX_STAGES: '20' },
      { logger: createLogger('warn', {}, (line) => lines.push(line)) },
    )
    try {
      expect(lines.some((l) => l.includes('IVS_MAX_SUBSCRIPTIONS') && l.includes('"level":"warn"'))).toBe(true)
      for (const u of ['a', 'b', 'c']) expect((await viewer(server, u)).status).toBe(200)
      const refused = await viewer(server, 'd')
      expect(refused.status).toBe(503)
      expect((await refused.json()).error).toMatchObject({ code: 'CAPACITY_EXHAUSTED', details: { reason: 'subscription-quota' } })
      expect((await viewer(server, 'a')).status).toBe(200) // a seated viewer keeps its seat
      const stats = (await (await server.api('/api/stats')).json()).data
      expect([stats.capacityExhausted, stats.capacityReason]).toEqual([true, expect.stringContaining('concurrent-subscription quota')])
    } finally {
      await server.stop()
    }
  })
})

describe('publisher state without a relay: IVS participant list of the master stage', () => {
  test('a publishing participant in the master stage turns the publisher on; none turns it off (leader rounds, manual clock)', async () => {
    const ivs = await startIvsServer({ region: 'eu-west-1' })
    const clock = new ManualClock(Date.now())
    const ticker = new ManualTicker()
    const server = await startTestServer(awsEnv(ivs, { LEADER_LEASE_MS: '3000' }), { clock, ticker })
    try {
      const master = (await server.stages.master()).arn
      const publisher = async () => (await (await server.api('/api/stats/publisher')).json()).data
      await server.loop.tick()
      expect(await publisher()).toMatchObject({ active: false })
      ivs.control.setParticipants(master, [{ participantId: 'obs', userId: 'publisher-123', published: true, state: 'CONNECTED' }])
      clock.advance(5_000)
      await server.loop.tick()
      expect(await publisher()).toMatchObject({ active: true, source: 'ivs', serverId: null })
      expect((await (await server.api('/api/stats')).json()).data.publisherActive).toBe(true)
      // Asked at most every 5 s: two stage operations per 5 s, well inside 5 TPS.
      ivs.resetCounts()
      await server.loop.tick()
      expect(ivs.calls.ListParticipants).toBe(0)
      // A participant that stopped publishing (or left) does not count.
      ivs.control.setParticipants(master, [{ participantId: 'obs', published: false, state: 'CONNECTED' }])
      clock.advance(5_000)
      await server.loop.tick()
      expect(await publisher()).toMatchObject({ active: false, source: 'ivs' })
      expect(ivs.calls.ListParticipants).toBe(1)
      const events = (await server.store.readEvents(null, 100)).filter((e) => e.type === 'publisher_state').map((e) => [e.data.active, e.data.source])
      expect(events).toEqual([
        [true, 'ivs'],
        [false, 'ivs'],
      ])
      // Once a relay is online its word counts instead, and IVS is no longer asked.
      await server.api('/api/media/register', { method: 'POST', json: { serverId: 'relay-1', ipAddress: 'localhost', port: 3001 } })
      await server.api('/api/media/heartbeat', { method: 'POST', json: { serverId: 'relay-1', publisherActive: true, connectedStages: 1 } })
      ivs.resetCounts()
      clock.advance(5_000)
      await server.loop.tick()
      expect(ivs.calls.ListParticipants).toBe(0)
      expect(await publisher()).toMatchObject({ active: true, source: 'relay', serverId: 'relay-1' })
    } finally {
      await server.stop()
      await ivs.stop()
    }
  })
})
