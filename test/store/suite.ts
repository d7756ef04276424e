import { afterAll, beforeEach, describe, expect, test } from 'bun:test'
import type { FanoutRecord } from '../../src/store/fanout'
import type { StageRecord, Store } from '../../src/store/types'

export interface StoreFactory {
  /** A fresh, empty store for each test, seating `stageCapacity` viewers per stage. */
  create(options: { stageCapacity: number }): Promise<Store>
  close?(): Promise<void>
}

const T0 = Date.UTC(2026, 10, 23, 12)
let arnCounter = 0
export function stageRecord(seq: number, extra: Partial<StageRecord> = {}): StageRecord {
  const id = `St${String(++arnCounter).padStart(10, '0')}`
  return {
    arn: `arn:aws:ivs:us-east-1:000000000000:stage/${id}`,
    name: `s-${seq}`,
    isMaster: seq === 0,
    status: 'active',
    seq,
    createdAt: T0,
    drainingSince: null,
    tags: { 'ivs-fanout:fleet': 'test' },
    endpoints: { whip: 'https://whip.example', events: 'wss://events.example' },
    ...extra,
  }
}

const keptOf = (r: Awaited<ReturnType<Store['assignViewer']>>) => (r.ok ? r.kept : null)

/** The same cases and assertions for every Store implementation. */
export function describeStore(name: string, factory: StoreFactory) {
  describe(`store contract: ${name}`, () => {
    let store: Store
    /** A fresh store whose stages seat `capacity` viewers each (2 unless a test opens another). */
    const open = async (capacity = 2) => {
      store = await factory.create({ stageCapacity: capacity })
    }
    beforeEach(() => open())
    afterAll(async () => {
      await factory.close?.()
    })

    const assign = (userId: string, now = T0, exclude?: string[]) => store.assignViewer({ userId, participantId: `p-${userId}`, now, exclude })

    test('ping answers', async () => {
      await store.ping()
    })

    test('stages: add, get, list in seq order, update, remove; maxStages enforced', async () => {
      const master = stageRecord(0)
      const a = stageRecord(2)
      const b = stageRecord(1)
      expect(await store.addStage(master, 3)).toBe(true)
      expect(await store.addStage(a, 3)).toBe(true)
      expect(await store.addStage(b, 3)).toBe(true)
      expect(await store.addStage(stageRecord(3), 3)).toBe(false)
      expect(await store.addStage(a, 3)).toBe(true) // idempotent for a known stage
      expect((await store.listStages()).map((s) => s.arn)).toEqual([master.arn, b.arn, a.arn])
      expect(await store.getStage(a.arn)).toEqual({ ...a, viewerCount: 0, capacity: 2 })
      expect(await store.getStage('arn:aws:ivs:us-east-1:000000000000:stage/Missing00000')).toBeNull()
      const updated = await store.updateStage(a.arn, { status: 'draining', drainingSince: T0 + 5, name: 'renamed' })
      expect(updated).toMatchObject({ status: 'draining', drainingSince: T0 + 5, name: 'renamed', seq: 2 })
      expect(await store.updateStage('arn:aws:ivs:us-east-1:000000000000:stage/Missing00000', { name: 'x' })).toBeNull()
      expect(await store.removeStage(a.arn, T0)).toEqual([])
      expect(await store.removeStage(a.arn, T0)).toBeNull()
      expect((await store.listStages()).length).toBe(2)
    })

    test('stage sequence numbers only grow', async () => {
      const first = await store.nextStageSeq()
      const second = await store.nextStageSeq()
      expect(second).toBeGreaterThan(first)
      await store.addStage(stageRecord(100), 10)
      expect(await store.nextStageSeq()).toBeGreaterThan(100)
    })

    test('assignment fills the lowest-seq active stage first and refuses when all are full', async () => {
      const master = stageRecord(0)
      const one = stageRecord(1)
      await store.addStage(one, 10)
      await store.addStage(master, 10)
      const results = []
      for (const user of ['u1', 'u2', 'u3', 'u4']) results.push(await assign(user))
      expect(results.map((r) => (r.ok ? r.stage.arn : null))).toEqual([master.arn, master.arn, one.arn, one.arn])
      const r = results[2]!
      expect(r.ok && r.presence).toEqual({ userId: 'u3', participantId: 'p-u3', stageArn: one.arn, joinedAt: T0, lastHeartbeatAt: T0 })
      expect(r.ok && r.stage.viewerCount).toBe(1)
      expect(r.ok && r.stage.capacity).toBe(2) // the store's capacity, on every stage it reads
      expect(await assign('u5')).toEqual({ ok: false, reason: 'full' })
      expect((await store.getStage(master.arn))!.viewerCount).toBe(2)
    })

    test('maxViewers: a new viewer is refused once the fleet holds that many; a seated one keeps its seat', async () => {
      await open(5)
      const master = stageRecord(0)
      await store.addStage(master, 10)
      await store.addStage(stageRecord(1), 10)
      const withQuota = (userId: string) => store.assignViewer({ userId, participantId: `p-${userId}`, now: T0, maxViewers: 3 })
      for (const u of ['q1', 'q2', 'q3']) expect((await withQuota(u)).ok).toBe(true)
      expect(await withQuota('q4')).toEqual({ ok: false, reason: 'quota' })
      expect(keptOf(await withQuota('q1'))).toBe(true)
      await store.leaveViewer('q2', master.arn, T0)
      expect((await withQuota('q4')).ok).toBe(true)
    })

    test('draining and excluded stages get no new viewers', async () => {
      const master = stageRecord(0)
      const one = stageRecord(1, { status: 'draining' })
      const two = stageRecord(2)
      for (const s of [master, one, two]) await store.addStage(s, 10)
      const r = await assign('u1', T0, [master.arn])
      expect(r.ok && r.stage.arn).toBe(two.arn)
    })

    test('a viewer already seated keeps its seat; one on a draining stage is moved and its old session closed', async () => {
      await open(5)
      const master = stageRecord(0)
      const one = stageRecord(1)
      await store.addStage(master, 10)
      await store.addStage(one, 10)
      expect(keptOf(await assign('u1', T0))).toBe(false)
      const again = await store.assignViewer({ userId: 'u1', participantId: 'p-new', now: T0 + 10 })
      expect(again.ok && again.stage.arn).toBe(master.arn)
      expect(again.ok && again.stage.viewerCount).toBe(1)
      expect(again.ok && again.presence.participantId).toBe('p-new')
      expect(again.ok && again.kept).toBe(true)
      await store.updateStage(master.arn, { status: 'draining', drainingSince: T0 })
      const moved = await store.assignViewer({ userId: 'u1', participantId: 'p-3', now: T0 + 1000 })
      expect(moved.ok && moved.stage.arn).toBe(one.arn)
      expect(moved.ok && moved.kept).toBe(false)
      expect((await store.getStage(master.arn))!.viewerCount).toBe(0)
      const duration = await store.viewerDuration('u1', null, T0 + 1500)
      expect(duration.totalMs).toBe(1500)
      expect(duration.sessions.map((s) => [s.stageArn, s.durationMs, s.leftAt])).toEqual([
        [master.arn, 1000, T0 + 1000],
        [one.arn, 500, null],
      ])
    })

    test('setParticipantId records a new id on the seat the viewer has there, and never seats or moves anyone', async () => {
      const master = stageRecord(0)
      const one = stageRecord(1)
      await store.addStage(master, 10)
      await store.addStage(one, 10)
      await assign('u1', T0)
      await assign('u2', T0)
      await store.updateStage(master.arn, { status: 'draining', drainingSince: T0 }) // a draining seat is still the viewer's
      expect(await store.setParticipantId('u1', master.arn, 'ivs-picked')).toEqual({
        userId: 'u1',
        participantId: 'ivs-picked',
        stageArn: master.arn,
        joinedAt: T0,
        lastHeartbeatAt: T0,
      })
      expect(await store.findViewer('u1')).toMatchObject({ stageArn: master.arn, participantId: 'ivs-picked' })
      // Not on that stage, or not present at all: nothing changes.
      expect(await store.setParticipantId('u2', one.arn, 'elsewhere')).toBeNull()
      expect(await store.setParticipantId('nobody', master.arn, 'ghost')).toBeNull()
      expect(await store.findViewer('u2')).toMatchObject({ stageArn: master.arn, participantId: 'p-u2' })
      expect(await store.findViewer('nobody')).toBeNull()
      expect((await store.listStages()).map((s) => s.viewerCount)).toEqual([2, 0])
      expect((await store.viewerDuration('u1', null, T0 + 10)).sessions).toHaveLength(1) // no session closed or opened
    })

    test('heartbeats refresh known viewers and report unknown and draining ones', async () => {
      await open(1)
      const master = stageRecord(0)
      const one = stageRecord(1)
      await store.addStage(master, 10)
      await store.addStage(one, 10)
      await assign('u1')
      await assign('u2')
      await store.updateStage(one.arn, { status: 'draining', drainingSince: T0 })
      const outcomes = await store.heartbeat(
        [
          { userId: 'u1', stageArn: master.arn },
          { userId: 'u2', stageArn: one.arn },
          { userId: 'u1', stageArn: one.arn },
          { userId: 'ghost', stageArn: master.arn },
          { userId: 'u1', stageArn: 'arn:aws:ivs:us-east-1:000000000000:stage/Missing00000' },
        ],
        T0 + 5000,
      )
      expect(outcomes).toEqual(['ok', 'draining', 'unknown', 'unknown', 'unknown'])
      expect((await store.findViewer('u1'))!.lastHeartbeatAt).toBe(T0 + 5000)
      expect((await store.findViewer('u2'))!.lastHeartbeatAt).toBe(T0 + 5000)
      expect(await store.heartbeat([], T0)).toEqual([])
    })

    test('leave closes the session and frees the seat', async () => {
      await open(1)
      const master = stageRecord(0)
      await store.addStage(master, 10)
      await assign('u1', T0)
      expect(await store.leaveViewer('u1', master.arn, T0 + 42_000)).toMatchObject({ stageArn: master.arn, durationMs: 42_000, leftAt: T0 + 42_000 })
      expect(await store.leaveViewer('u1', master.arn, T0 + 43_000)).toBeNull()
      expect(await store.findViewer('u1')).toBeNull()
      expect((await store.getStage(master.arn))!.viewerCount).toBe(0)
      expect((await assign('u2')).ok).toBe(true)
    })

    test('sweep removes silent viewers only, ending their watch time at their last heartbeat', async () => {
      await open(10)
      const master = stageRecord(0)
      await store.addStage(master, 10)
      await assign('quiet', T0)
      await assign('chatty', T0)
      await store.heartbeat([{ userId: 'quiet', stageArn: master.arn }], T0 + 10_000)
      await store.heartbeat([{ userId: 'chatty', stageArn: master.arn }], T0 + 70_000)
      const removed = await store.sweepViewers(T0 + 60_000, T0 + 80_000, 100)
      expect(removed.map((p) => p.userId)).toEqual(['quiet'])
      expect((await store.getStage(master.arn))!.viewerCount).toBe(1)
      expect((await store.viewerDuration('quiet', null, T0 + 90_000)).totalMs).toBe(10_000)
      expect(await store.sweepViewers(T0 + 60_000, T0 + 80_000, 100)).toEqual([])
    })

    test('sweep honours its limit', async () => {
      await open(10)
      const master = stageRecord(0)
      await store.addStage(master, 10)
      for (let i = 0; i < 5; i++) await assign(`u${i}`, T0)
      expect((await store.sweepViewers(T0 + 1, T0 + 1, 2)).length).toBe(2)
      expect((await store.sweepViewers(T0 + 1, T0 + 1, 10)).length).toBe(3)
    })

    test('removing a stage closes the sessions of its viewers', async () => {
      await open(1)
      const master = stageRecord(0)
      const one = stageRecord(1)
      await store.addStage(master, 10)
      await store.addStage(one, 10)
      await assign('u1', T0)
      await assign('u2', T0)
      const removed = await store.removeStage(one.arn, T0 + 7000)
      expect(removed!.map((p) => p.userId)).toEqual(['u2'])
      expect(await store.findViewer('u2')).toBeNull()
      expect((await store.viewerDuration('u2', one.arn, T0 + 9000)).totalMs).toBe(7000)
    })

    test('viewer list is paginated by cursor without gaps or repeats', async () => {
      await open(100)
      const master = stageRecord(0)
      await store.addStage(master, 10)
      const users = Array.from({ length: 25 }, (_, i) => `user-${String(i).padStart(2, '0')}`)
      for (const u of users) await assign(u)
      const seen: string[] = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page = await store.listViewers(master.arn, 10, cursor)
        seen.push(...page.viewers.map((v) => v.userId))
        cursor = page.nextCursor
        pages++
      } while (cursor !== null && pages < 10)
      expect(pages).toBe(3)
      expect(seen.sort()).toEqual(users)
      expect(await store.listViewers('arn:aws:ivs:us-east-1:000000000000:stage/Missing00000', 10, null)).toEqual({ viewers: [], nextCursor: null })
    })

    test('duration per stage and in total', async () => {
      await open(1)
      const master = stageRecord(0)
      const one = stageRecord(1)
      await store.addStage(master, 10)
      await store.addStage(one, 10)
      await assign('u1', T0)
      await store.leaveViewer('u1', master.arn, T0 + 1000)
      await store.updateStage(master.arn, { status: 'draining', drainingSince: T0 })
      await assign('u1', T0 + 2000)
      const all = await store.viewerDuration('u1', null, T0 + 5000)
      expect(all.totalMs).toBe(4000)
      expect(all.sessions.length).toBe(2)
      expect((await store.viewerDuration('u1', master.arn, T0 + 5000)).totalMs).toBe(1000)
      expect((await store.viewerDuration('u1', one.arn, T0 + 5000)).totalMs).toBe(3000)
      expect(await store.viewerDuration('nobody', null, T0)).toEqual({ userId: 'nobody', totalMs: 0, sessions: [] })
    })

    test('many parallel assignments never exceed capacity', async () => {
      await open(10)
      const stages = [stageRecord(0), stageRecord(1), stageRecord(2)]
      for (const s of stages) await store.addStage(s, 10)
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => assign(`p${i}`)))
      expect(results.filter((r) => r.ok).length).toBe(30)
      expect(results.filter((r) => !r.ok).length).toBe(10)
      for (const s of await store.listStages()) expect(s.viewerCount).toBe(10)
    })

    test('relays: registration, heartbeats (a count or a list), offline marking once, publisher state', async () => {
      await store.putRelay({
        serverId: 'r1',
        ipAddress: 'relay-1.internal',
        port: 3001,
        publisherActive: false,
        connectedStages: 0,
        stageArns: [],
        registeredAt: T0,
        lastHeartbeatAt: T0,
        offlineSince: null,
      })
      expect(await store.heartbeatRelay('r1', { publisherActive: true, connectedStages: 2, stageArns: ['a', 'b'], lastHeartbeatAt: T0 + 1 })).toBe(true)
      expect(await store.heartbeatRelay('nope', { publisherActive: true, connectedStages: 0, stageArns: [], lastHeartbeatAt: T0 })).toBe(false)
      const r1 = { serverId: 'r1', ipAddress: 'relay-1.internal', port: 3001, registeredAt: T0 }
      expect(await store.listRelays()).toEqual([
        { ...r1, publisherActive: true, connectedStages: 2, stageArns: ['a', 'b'], lastHeartbeatAt: T0 + 1, offlineSince: null },
      ])
      // Silent since before T0 + 1? No: not marked. Silent since before T0 + 100: marked, once.
      expect(await store.markRelayOffline('r1', T0 + 1, T0 + 50)).toBe(false)
      expect(await store.markRelayOffline('r1', T0 + 100, T0 + 200)).toBe(true)
      expect(await store.markRelayOffline('r1', T0 + 100, T0 + 300)).toBe(false)
      expect(await store.markRelayOffline('nope', T0 + 100, T0 + 300)).toBe(false)
      expect((await store.listRelays())[0]!.offlineSince).toBe(T0 + 200)
      // A heartbeat brings it back.
      expect(await store.heartbeatRelay('r1', { publisherActive: false, connectedStages: 5, stageArns: [], lastHeartbeatAt: T0 + 400 })).toBe(true)
      expect(await store.listRelays()).toEqual([
        { ...r1, publisherActive: false, connectedStages: 5, stageArns: [], lastHeartbeatAt: T0 + 400, offlineSince: null },
      ])
      // When its publisher connected: kept as sent (null: none; undefined: the relay does not say).
      const since = async () => (await store.listRelays())[0]!.publisherSince
      await store.heartbeatRelay('r1', { publisherActive: true, connectedStages: 0, stageArns: [], publisherSince: T0 + 350, lastHeartbeatAt: T0 + 500 })
      expect(await since()).toBe(T0 + 350)
      await store.heartbeatRelay('r1', { publisherActive: false, connectedStages: 0, stageArns: [], publisherSince: null, lastHeartbeatAt: T0 + 600 })
      expect(await since()).toBeNull()
      await store.heartbeatRelay('r1', { publisherActive: true, connectedStages: 0, stageArns: [], publisherSince: undefined, lastHeartbeatAt: T0 + 700 })
      expect(await since()).toBeUndefined()
      expect(await store.getPublisherState()).toEqual({ active: false, updatedAt: null, serverId: null })
      const previous = await store.setPublisherState({ active: true, updatedAt: T0, serverId: 'r1' })
      expect(previous.active).toBe(false)
      expect(await store.getPublisherState()).toEqual({ active: true, updatedAt: T0, serverId: 'r1' })
    })

    test('limits: a window of slots held while in flight and one window after, answering the wait when full', async () => {
      const { limits } = store
      const W = 1000
      // Three slots per window; calls may take up to 500 ms (hold until T0 + 500).
      for (const m of ['a', 'b', 'c']) expect(await limits.takeSlot('op', m, 3, W, T0 + 500, T0)).toBe(0)
      expect(await limits.slotsInUse('op', W, T0)).toBe(3)
      // Full: the oldest slot is held until T0 + 500, so it leaves the window at T0 + 1500.
      expect(await limits.takeSlot('op', 'd', 3, W, T0 + 500, T0 + 100)).toBe(1400)
      // 'a' ended at T0 + 50: held one window from then, it frees at T0 + 1050.
      await limits.endSlot('op', 'a', T0 + 50)
      expect(await limits.takeSlot('op', 'd', 3, W, T0 + 1500, T0 + 100)).toBe(950)
      expect(await limits.takeSlot('op', 'd', 3, W, T0 + 1550, T0 + 1050)).toBe(0)
      expect(await limits.slotsInUse('op', W, T0 + 1050)).toBe(3)
      // Other names are other windows; an unknown member's end changes nothing.
      expect(await limits.takeSlot('other', 'x', 1, W, T0, T0)).toBe(0)
      await limits.endSlot('op', 'ghost', T0)
      expect(await limits.slotsInUse('op', W, T0 + 1050)).toBe(3)
    })

    test('limits: fixed-window hit counters and expiring notices', async () => {
      const { limits } = store
      const first = await limits.countHit('client-1', 60_000, T0)
      expect(first.count).toBe(1)
      expect(first.resetInMs).toBeGreaterThan(59_000)
      expect(first.resetInMs).toBeLessThanOrEqual(60_000)
      expect((await limits.countHit('client-1', 60_000, T0 + 10)).count).toBe(2)
      expect((await limits.countHit('client-2', 60_000, T0 + 10)).count).toBe(1)
      expect(await limits.getNotice('capacity', T0)).toBeNull()
      await limits.putNotice('capacity', 'stage quota exceeded', 60_000, T0)
      const notice = await limits.getNotice('capacity', T0 + 1)
      expect(notice?.value).toBe('stage quota exceeded')
      expect(notice!.expiresInMs).toBeGreaterThan(58_000)
      await limits.putNotice('short', 'x', 100, T0)
      expect((await limits.countHit('short-window', 100, T0)).count).toBe(1)
      await Bun.sleep(150)
      // Redis expires by its own clock, the memory store by the time given: both are past it now.
      expect(await store.limits.getNotice('short', T0 + 150)).toBeNull()
      expect((await limits.countHit('short-window', 100, T0 + 150)).count).toBe(1)
    })

    test("local stages: the local provider's own stages, apart from the fleet's records; put, get, rename, delete, list", async () => {
      const { localStages } = store
      const arn = (id: string) => `arn:aws:ivs:us-east-1:000000000000:stage/${id}`
      expect(await localStages.list()).toEqual([])
      expect(await localStages.get(arn('LocalStage01'))).toBeNull()
      const master = { arn: arn('LocalStage01'), name: 'fleet-master', tags: { 'ivs-fanout:fleet': 'fleet', team: 'live ✓ "quoted"' } }
      const untagged = { arn: arn('LocalStage02'), name: 'plain', tags: {} }
      await localStages.put(master)
      await localStages.put(untagged)
      expect(await localStages.get(master.arn)).toEqual(master)
      expect(await localStages.get(untagged.arn)).toEqual(untagged)
      const byArn = (list: { arn: string }[]) => [...list].sort((a, b) => a.arn.localeCompare(b.arn))
      expect(byArn(await localStages.list())).toEqual([master, untagged])
      // Not fleet records: the stage list and seats know nothing of them.
      expect(await store.listStages()).toEqual([])
      // A rename keeps the tags (none as none); a missing stage is not created by one.
      expect(await localStages.rename(master.arn, 'renamed')).toEqual({ ...master, name: 'renamed' })
      expect(await localStages.rename(untagged.arn, 'plain-2')).toEqual({ ...untagged, name: 'plain-2' })
      expect(await localStages.get(untagged.arn)).toEqual({ ...untagged, name: 'plain-2' })
      expect(await localStages.rename(arn('Missing00000'), 'x')).toBeNull()
      expect(await localStages.get(arn('Missing00000'))).toBeNull()
      // put replaces the stage with its ARN.
      await localStages.put({ ...master, name: 'again', tags: { a: 'b' } })
      expect(await localStages.get(master.arn)).toEqual({ ...master, name: 'again', tags: { a: 'b' } })
      await localStages.delete(master.arn)
      await localStages.delete(master.arn) // already gone: not an error
      expect(await localStages.list()).toEqual([{ ...untagged, name: 'plain-2' }])
      // What a caller does with an answer does not change what is kept.
      const read = (await localStages.get(untagged.arn))!
      read.name = 'mutated'
      read.tags.x = 'y'
      expect(await localStages.get(untagged.arn)).toEqual({ ...untagged, name: 'plain-2' })
    })

    test("fan-out: the leader's view (feeds, replications, hybrid origins) kept whole, replaced whole, apart from the stages", async () => {
      const arn = (id: string) => `arn:aws:ivs:us-east-1:000000000000:stage/${id}`
      expect(await store.fanout.get()).toBeNull()
      const record: FanoutRecord = {
        mode: 'hybrid',
        origins: [arn('Origin000001'), arn('Origin000002')],
        originOf: { [arn('Replica00001')]: arn('Origin000001'), [arn('Replica00002')]: arn('Origin000002') },
        feeds: {
          [arn('Origin000001')]: { kind: 'relay' },
          [arn('Replica00001')]: { kind: 'replica', originStageArn: arn('Origin000001') },
        },
        replications: [{ sourceStageArn: arn('Origin000001'), destinationStageArn: arn('Replica00001'), participantId: 'relay-Part-1' }],
        updatedAt: T0,
      }
      await store.fanout.put(record)
      expect(await store.fanout.get()).toEqual(record)
      expect(await store.listStages()).toEqual([])
      // Empty maps and lists come back as such (not as each other).
      const empty: FanoutRecord = { mode: 'replicate', origins: [], originOf: {}, feeds: {}, replications: [], updatedAt: T0 + 1 }
      await store.fanout.put(empty)
      expect(await store.fanout.get()).toEqual(empty)
      await store.fanout.put(record)
      // What a caller does with an answer does not change what is kept.
      const read = (await store.fanout.get())!
      read.origins.push('x')
      read.feeds.x = { kind: 'direct' }
      read.replications.length = 0
      expect(await store.fanout.get()).toEqual(record)
    })

    test('shared secrets: the first candidate is kept (set-if-absent), racing claims all get it, names apart', async () => {
      expect(await store.sharedSecret('viewer-session-key', 'first-candidate')).toBe('first-candidate')
      expect(await store.sharedSecret('viewer-session-key', 'second-candidate')).toBe('first-candidate')
      // Ten instances starting at once: one candidate wins, and every one of them is told which.
      const raced = await Promise.all(Array.from({ length: 10 }, (_, i) => store.sharedSecret('raced', `candidate-${i}`)))
      expect(new Set(raced).size).toBe(1)
      expect(raced[0]).toMatch(/^candidate-\d$/)
      // Another name is another secret; a key-shaped value (base64url of 32 bytes) comes back byte for byte.
      const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 255 - i * 7)).toString('base64url')
      expect(await store.sharedSecret('other', key)).toBe(key)
      expect(await store.sharedSecret('viewer-session-key', key)).toBe('first-candidate')
      // Not fleet state: no stage, viewer or event appears.
      expect([await store.listStages(), await store.lastEventId()]).toEqual([[], null])
    })

    test('leader lease: acquire, renew, refuse others, expire, release', async () => {
      expect(await store.acquireLease('leader', 'a', 1000, T0)).toBe(true)
      expect(await store.acquireLease('leader', 'b', 1000, T0 + 500)).toBe(false)
      expect(await store.acquireLease('leader', 'a', 1000, T0 + 900)).toBe(true) // renewed to T0+1900
      expect(await store.acquireLease('leader', 'b', 1000, T0 + 1500)).toBe(false)
      expect(await store.acquireLease('leader', 'b', 1000, T0 + 2000)).toBe(true) // expired
      await store.releaseLease('leader', 'a') // not the holder: no effect
      expect(await store.acquireLease('leader', 'a', 1000, T0 + 2100)).toBe(false)
      await store.releaseLease('leader', 'b')
      expect(await store.acquireLease('leader', 'a', 1000, T0 + 2100)).toBe(true)
    })

    test('events are read in order after a given id', async () => {
      expect(await store.lastEventId()).toBeNull()
      const ids = []
      for (let i = 0; i < 5; i++) ids.push(await store.appendEvent({ type: 'stage_created', data: { i } }))
      expect(await store.lastEventId()).toBe(ids[4]!)
      const all = await store.readEvents(null, 100)
      expect(all.map((e) => e.data.i)).toEqual([0, 1, 2, 3, 4])
      const after = await store.readEvents(ids[1]!, 2)
      expect(after.map((e) => [e.id, e.type, e.data.i])).toEqual([
        [ids[2], 'stage_created', 2],
        [ids[3], 'stage_created', 3],
      ])
      expect(await store.readEvents(ids[4]!, 10)).toEqual([])
    })

    test('readEvents with a wait: a store that blocks returns as soon as an event exists; one that cannot block answers at once', async () => {
      const first = await store.appendEvent({ type: 'stage_created', data: { n: 1 } })
      // An event is already there: no store waits for it.
      let started = performance.now()
      expect((await store.readEvents(null, 10, 2_000)).map((e) => e.id)).toEqual([first])
      expect(performance.now() - started).toBeLessThan(500)
      started = performance.now()
      const none = await store.readEvents(first, 10, 300)
      const waited = performance.now() - started
      expect(none).toEqual([])
      if (store.blockingReads) expect(waited).toBeGreaterThanOrEqual(250)
      else expect(waited).toBeLessThan(250)
    })
  })
}
