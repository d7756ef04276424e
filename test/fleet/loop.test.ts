import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ManualClock } from '../../src/clock'
import { LeaderLease } from '../../src/fleet/leader'
import { silentLogger } from '../../src/log'
import { ManualTicker } from '../../src/ticker'
import { startTestServer, type TestServer } from '../support/serve'
import { startUpstashStack, type UpstashStack } from '../support/upstash-server'

let stack: UpstashStack
let n = 0
beforeAll(async () => {
  stack = await startUpstashStack()
})
afterAll(() => stack.stop())

const STORES: [string, () => Record<string, string>][] = [
  ['memory', () => ({})],
  ['upstash', () => ({ UPSTASH_REDIS_REST_URL: stack.rest.url, UPSTASH_REDIS_REST_TOKEN: stack.rest.token, REDIS_KEY_PREFIX: `loop${++n}:` })],
]

const FLEET = {
  STAGE_CAPACITY: '10',
  SCALE_UP_THRESHOLD: '8',
  SCALE_DOWN_THRESHOLD: '2',
  MAX_STAGES: '5',
  STAGE_WARMUP_MS: '300000',
  DRAIN_GRACE_MS: '120000',
  HEARTBEAT_INTERVAL_MS: '15000',
  HEARTBEAT_TIMEOUT_MS: '60000',
  LEADER_LEASE_MS: '10000',
}

for (const [name, storeEnv] of STORES) {
  describe(`fleet loop on the ${name} store, with a fake clock`, () => {
    let server: TestServer
    let clock: ManualClock
    let ticker: ManualTicker
    beforeAll(async () => {
      clock = new ManualClock(Date.UTC(2026, 10, 23, 12))
      ticker = new ManualTicker()
      server = await startTestServer({ ...FLEET, ...storeEnv() }, { clock, ticker })
    })
    afterAll(() => server.stop())

    const tick = () => server.loop.tick()
    const viewer = async (userId: string) => (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId } })).json()).data
    const leave = (userId: string, stageArn: string) => server.api('/api/viewer/leave', { method: 'POST', json: { userId, stageArn } })
    const heartbeat = (userId: string, stageArn: string) => server.api('/api/viewer/heartbeat', { method: 'POST', json: { userId, stageArn } })
    const stages = () => server.store.listStages()
    const eventTypes = async () => (await server.store.readEvents(null, 1000)).map((e) => e.type)
    let master: string
    let second: string

    test('this instance holds the lease and leads', async () => {
      await tick()
      expect(server.lease.isLeader).toBe(true)
    })

    test('a stage reaching the scale-up threshold gets a new stage ahead of demand', async () => {
      for (let i = 0; i < 8; i++) await viewer(`v${i}`)
      const before = await stages()
      expect(before.length).toBe(1)
      master = before[0]!.arn
      await tick()
      const after = await stages()
      expect(after.length).toBe(2)
      second = after[1]!.arn
      expect(await server.provider.getStage(second)).not.toBeNull()
      expect(await eventTypes()).toContain('stage_created')
      // Viewers keep filling the master first; the new stage takes the overflow.
      for (let i = 8; i < 13; i++) await viewer(`v${i}`)
      expect((await stages()).map((s) => s.viewerCount)).toEqual([10, 3])
      await tick()
      expect((await stages()).length).toBe(2) // the second stage has headroom: no further growth
    })

    test('no drain during warm-up; after it a stage at the scale-down threshold drains and its viewers are told to rejoin', async () => {
      for (let i = 0; i < 6; i++) await leave(`v${i}`, master)
      await leave('v12', second)
      expect((await stages()).map((s) => s.viewerCount)).toEqual([4, 2])
      await tick()
      expect((await server.store.getStage(second))!.status).toBe('active')
      clock.advance(300_000)
      // Everyone still present heartbeats so the sweeper leaves them alone.
      for (let i = 6; i < 10; i++) expect((await heartbeat(`v${i}`, master)).status).toBe(200)
      for (const u of ['v10', 'v11']) expect((await heartbeat(u, second)).status).toBe(200)
      await tick()
      expect((await server.store.getStage(second))!.status).toBe('draining')
      const rejoin = (await server.store.readEvents(null, 1000)).find((e) => e.type === 'rejoin_required')!
      expect(rejoin.data.stageArn).toBe(second)
      expect((rejoin.data.userIds as string[]).sort()).toEqual(['v10', 'v11'])
      const hb = await heartbeat('v10', second)
      expect(hb.status).toBe(404)
      expect((await hb.json()).error.code).toBe('REJOIN_REQUIRED')
      // A new viewer never lands on a draining stage.
      expect((await viewer('late')).stageArn).toBe(master)
    })

    test('rejoin moves a viewer off the draining stage; the stage is deleted when empty', async () => {
      const moved = (await (await server.api('/api/viewer/rejoin', { method: 'POST', json: { userId: 'v10' } })).json()).data
      expect(moved.stageArn).toBe(master)
      await tick()
      expect(await server.store.getStage(second)).not.toBeNull() // v11 is still there, within grace
      await leave('v11', second)
      await tick()
      expect(await server.store.getStage(second)).toBeNull()
      expect(await server.provider.getStage(second)).toBeNull()
      expect(await eventTypes()).toContain('stage_deleted')
      expect(server.counters.snapshot().find((c) => c.name === 'ScaleDowns')!.value).toBe(1)
    })

    test('the sweeper removes viewers silent for HEARTBEAT_TIMEOUT_MS and records their watch time', async () => {
      const before = (await stages())[0]!.viewerCount
      clock.advance(30_000)
      expect((await heartbeat('v6', master)).status).toBe(200)
      clock.advance(40_000) // v6 heard from 40 s ago; everyone else over 60 s ago
      await tick()
      expect(await server.store.findViewer('v6')).not.toBeNull()
      expect(await server.store.findViewer('v7')).toBeNull()
      expect((await stages())[0]!.viewerCount).toBe(1)
      expect(before).toBeGreaterThan(1)
      const duration = (await (await server.api('/api/viewer/duration?userId=v7')).json()).data
      // v7 joined at t0 and last heartbeated at t0 + 300 s: watch time ends at its last heartbeat.
      expect(duration.totalMs).toBe(300_000)
      expect(duration.sessions[0].active).toBe(false)
    })

    test('leadership: another holder waits for the lease and takes over within one lease period', async () => {
      const other = new LeaderLease({ store: server.store, clock, logger: silentLogger }, 'other-instance', 10_000)
      expect(await other.renew()).toBe(false)
      await server.loop.stop() // stops renewing and releases
      expect(await other.renew()).toBe(true)
      expect(server.lease.isLeader).toBe(false)
      // A leader that dies without releasing is replaced once its lease runs out.
      const third = new LeaderLease({ store: server.store, clock, logger: silentLogger }, 'third-instance', 10_000)
      expect(await third.renew()).toBe(false)
      clock.advance(10_001)
      expect(await third.renew()).toBe(true)
    })
  })
}
