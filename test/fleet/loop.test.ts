import { afterAll, describe, expect, test } from 'bun:test'
import { LeaderLease } from '../../src/fleet/leader'
import { silentLogger } from '../../src/log'
import { ManualClock, ManualTicker } from '../support/clock'
import { beforeAllOrFail } from '../support/hooks'
import { startTestServer } from '../support/serve'
import { startUpstashStack, type UpstashStack } from '../support/upstash-server'

let stack: UpstashStack
let n = 0
beforeAllOrFail(async () => {
  stack = await startUpstashStack()
})
afterAll(() => stack?.stop())

// Each call gives an empty store: the memory store is per server, the Upstash one gets its own key prefix.
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
    /** A server of its own on an empty store, its clock and periodic work driven by hand. */
    async function fleet() {
      const clock = new ManualClock(Date.UTC(2026, 10, 23, 12))
      const server = await startTestServer({ ...FLEET, ...storeEnv() }, { clock, ticker: new ManualTicker() })
      const api = (path: string, json: unknown) => server.api(path, { method: 'POST', json })
      return {
        server,
        clock,
        tick: () => server.loop.tick(),
        viewer: async (userId: string) => (await (await api('/api/token/viewer', { userId })).json()).data,
        leave: (userId: string, stageArn: string) => api('/api/viewer/leave', { userId, stageArn }),
        heartbeat: (userId: string, stageArn: string) => api('/api/viewer/heartbeat', { userId, stageArn }),
        stages: () => server.store.listStages(),
        eventTypes: async () => (await server.store.readEvents(null, 1000)).map((e) => e.type),
        [Symbol.asyncDispose]: () => server.stop(),
      }
    }
    type Fleet = Awaited<ReturnType<typeof fleet>>

    /**
     * Eight viewers (v0–v7) put the master at the scale-up threshold, a tick creates the second
     * stage, five more (v8–v12) fill the master and overflow onto it: [10, 3].
     */
    async function scaledUp(f: Fleet): Promise<{ master: string; second: string }> {
      for (let i = 0; i < 8; i++) await f.viewer(`v${i}`)
      const before = await f.stages()
      expect(before.length).toBe(1)
      const master = before[0]!.arn
      await f.tick()
      const after = await f.stages()
      expect(after.length).toBe(2)
      const second = after[1]!.arn
      for (let i = 8; i < 13; i++) await f.viewer(`v${i}`)
      expect((await f.stages()).map((s) => s.viewerCount)).toEqual([10, 3])
      return { master, second }
    }

    /**
     * From `scaledUp`: v0–v5 leave the master and v12 the second stage ([4, 2]); past warm-up, with
     * everyone left heartbeating (v6–v9 on the master, v10 and v11 on the second), a tick drains the second.
     */
    async function drained(f: Fleet): Promise<{ master: string; second: string }> {
      const { master, second } = await scaledUp(f)
      for (let i = 0; i < 6; i++) await f.leave(`v${i}`, master)
      await f.leave('v12', second)
      f.clock.advance(300_000)
      for (let i = 6; i < 10; i++) expect((await f.heartbeat(`v${i}`, master)).status).toBe(200)
      for (const u of ['v10', 'v11']) expect((await f.heartbeat(u, second)).status).toBe(200)
      await f.tick()
      expect((await f.server.store.getStage(second))!.status).toBe('draining')
      return { master, second }
    }

    test('this instance holds the lease and leads', async () => {
      await using f = await fleet()
      await f.tick()
      expect(f.server.lease.isLeader).toBe(true)
    })

    test('a stage reaching the scale-up threshold gets a new stage ahead of demand', async () => {
      await using f = await fleet()
      for (let i = 0; i < 8; i++) await f.viewer(`v${i}`)
      const before = await f.stages()
      expect(before.length).toBe(1)
      const master = before[0]!.arn
      expect(await f.eventTypes()).not.toContain('stage_created')
      await f.tick()
      const after = await f.stages()
      expect(after.length).toBe(2)
      expect(after[0]!.arn).toBe(master)
      const second = after[1]!.arn
      expect(await f.server.provider.getStage(second)).not.toBeNull()
      expect(await f.eventTypes()).toContain('stage_created')
      // Viewers keep filling the master first; the new stage takes the overflow.
      for (let i = 8; i < 13; i++) await f.viewer(`v${i}`)
      expect((await f.stages()).map((s) => s.viewerCount)).toEqual([10, 3])
      await f.tick()
      expect((await f.stages()).length).toBe(2) // the second stage has headroom: no further growth
    })

    test('no drain during warm-up; after it a stage at the scale-down threshold drains and its viewers are told to rejoin', async () => {
      await using f = await fleet()
      const { master, second } = await scaledUp(f)
      for (let i = 0; i < 6; i++) await f.leave(`v${i}`, master)
      await f.leave('v12', second)
      expect((await f.stages()).map((s) => s.viewerCount)).toEqual([4, 2])
      await f.tick()
      expect((await f.server.store.getStage(second))!.status).toBe('active')
      f.clock.advance(300_000)
      // Everyone still present heartbeats so the sweeper leaves them alone.
      for (let i = 6; i < 10; i++) expect((await f.heartbeat(`v${i}`, master)).status).toBe(200)
      for (const u of ['v10', 'v11']) expect((await f.heartbeat(u, second)).status).toBe(200)
      await f.tick()
      expect((await f.server.store.getStage(second))!.status).toBe('draining')
      const rejoin = (await f.server.store.readEvents(null, 1000)).find((e) => e.type === 'rejoin_required')!
      expect(rejoin.data.stageArn).toBe(second)
      expect((rejoin.data.userIds as string[]).sort()).toEqual(['v10', 'v11'])
      const hb = await f.heartbeat('v10', second)
      expect(hb.status).toBe(404)
      expect((await hb.json()).error.code).toBe('REJOIN_REQUIRED')
      // A new viewer never lands on a draining stage.
      expect((await f.viewer('late')).stageArn).toBe(master)
    })

    test('rejoin moves a viewer off the draining stage; the stage is deleted when empty', async () => {
      await using f = await fleet()
      const { master, second } = await drained(f)
      expect(f.server.counters.snapshot().find((c) => c.name === 'ScaleDowns')?.value ?? 0).toBe(0)
      const moved = (await (await f.server.api('/api/viewer/rejoin', { method: 'POST', json: { userId: 'v10' } })).json()).data
      expect(moved.stageArn).toBe(master)
      await f.tick()
      expect(await f.server.store.getStage(second)).not.toBeNull() // v11 is still there, within grace
      await f.leave('v11', second)
      await f.tick()
      expect(await f.server.store.getStage(second)).toBeNull()
      expect(await f.server.provider.getStage(second)).toBeNull()
      expect(await f.eventTypes()).toContain('stage_deleted')
      expect(f.server.counters.snapshot().find((c) => c.name === 'ScaleDowns')!.value).toBe(1)
    })

    test('the sweeper removes viewers silent for HEARTBEAT_TIMEOUT_MS and records their watch time', async () => {
      await using f = await fleet()
      const master = (await f.stages())[0]!.arn
      // v6–v9 join at t0 and heartbeat at t0 + 300 s.
      for (let i = 6; i < 10; i++) await f.viewer(`v${i}`)
      f.clock.advance(300_000)
      for (let i = 6; i < 10; i++) expect((await f.heartbeat(`v${i}`, master)).status).toBe(200)
      const before = (await f.stages())[0]!.viewerCount
      f.clock.advance(30_000)
      expect((await f.heartbeat('v6', master)).status).toBe(200)
      f.clock.advance(40_000) // v6 heard from 40 s ago; everyone else over 60 s ago
      await f.tick()
      expect(await f.server.store.findViewer('v6')).not.toBeNull()
      expect(await f.server.store.findViewer('v7')).toBeNull()
      expect((await f.stages())[0]!.viewerCount).toBe(1)
      expect(before).toBeGreaterThan(1)
      const duration = (await (await f.server.api('/api/viewer/duration?userId=v7')).json()).data
      // v7 joined at t0 and last heartbeated at t0 + 300 s: watch time ends at its last heartbeat.
      expect(duration.totalMs).toBe(300_000)
      expect(duration.sessions[0].active).toBe(false)
    })

    test('leadership: another holder waits for the lease and takes over within one lease period', async () => {
      await using f = await fleet()
      const { server, clock } = f
      await f.tick()
      expect(server.lease.isLeader).toBe(true)
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
