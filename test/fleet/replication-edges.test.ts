import { describe, expect, test } from 'bun:test'
import { FOLLOW_UPS_MS } from '../../src/fleet/follow-ups'
import { ManualSchedule } from '../support/clock'
import { short } from '../support/fake-replication'
import { arn, fleet, record, relayIn, s, T0 } from '../support/replication-fleet'

const starts = (calls: string[]) => calls.filter((c) => c.startsWith('StartParticipantReplication'))

describe('the leader round beside the loop (the loop does not wait for it)', () => {
  test('the round stops before its next IVS call once this instance no longer leads, and leaves the view to the next leader', async () => {
    const f = await fleet('hybrid', 13)
    for (const seq of [0, 6, 12]) relayIn(f, seq)
    // Leadership is lost after the third start (the lease not renewed in time).
    const leading = () => starts(f.provider.calls).length < 3
    expect(await f.service.tick({ thorough: true, leading })).toEqual({ started: [], stopped: [], pending: false })
    expect(starts(f.provider.calls).length).toBe(3)
    expect(await f.store.fanout.get()).toBeNull()
    expect(f.logs.filter((l) => l.msg === 'replication round stopped part-way: this instance no longer leads').length).toBe(1)
  })

  test('a round reads IVS thoroughly when this instance becomes leader, not after a gap between ticks', async () => {
    const f = await fleet('replicate', 2)
    // A participant that published into the master and left: only a thorough round asks IVS for its replicas.
    f.provider.publish(arn(0), 'old', 'earlier')
    f.provider.leave(arn(0), 'old')
    f.provider.publish(arn(0), 'bcast-1', 'broadcaster')
    const askedOld = () => f.provider.calls.filter((c) => c === `ListParticipantReplicas ${s(0)} old`).length
    await f.service.tick({ thorough: true })
    expect(askedOld()).toBe(1)
    // A minute without ticks (a slow loop, a store that did not answer): still the same leader.
    f.clock.advance(60_000)
    await f.service.tick()
    expect(askedOld()).toBe(1)
    // Leader again after losing it: thorough.
    f.clock.advance(5_000)
    await f.service.tick({ thorough: true })
    expect(askedOld()).toBe(2)
  })

  test("a round that loses the lead before its view is written tells no 'ended' stops: the next leader tells each once", async () => {
    const f = await fleet('replicate', 3)
    f.provider.publish(arn(0), 'bcast-1', 'broadcaster')
    await f.service.reconcile()
    expect(f.provider.active()).toHaveLength(2)
    // The broadcaster gone past its window: IVS ended both replications; the view still lists them.
    f.provider.leave(arn(0), 'bcast-1')
    f.provider.expire('bcast-1')
    const viewBefore = await f.store.fanout.get()
    // Leading for the round's two IVS reads and its two checks around taking the lock, not at its write.
    let asked = 0
    f.clock.advance(5_000)
    await f.service.tick({ leading: () => ++asked <= 4 })
    expect(asked).toBe(5)
    expect(f.eventsOf('replication_stopped')).toEqual([])
    expect(await f.store.fanout.get()).toEqual(viewBefore)
    f.clock.advance(5_000)
    await f.service.tick()
    expect(f.eventsOf('replication_stopped').map((e) => [short(e.destinationStageArn as string), e.reason])).toEqual([
      [s(1), 'ended'],
      [s(2), 'ended'],
    ])
  })
})

describe('fan-out edges a review found', () => {
  test('relay mode: a replication whose stop failed stays in the view and is stopped at the next round', async () => {
    const before = await fleet('replicate', 2)
    before.provider.publish(arn(0), 'bcast-1', 'broadcaster')
    await before.service.reconcile()
    const relay = await fleet('relay', 0, { store: before.store, provider: before.provider, clock: before.clock })
    before.provider.failStops = 1
    const failed = await relay.service.reconcile()
    expect([failed.stopped, failed.pending]).toEqual([[], true])
    expect((await before.store.fanout.get())!.replications.map((r) => short(r.destinationStageArn))).toEqual([s(1)])
    expect(before.provider.active()).toEqual([`${s(0)}→${s(1)} bcast-1`])
    before.clock.advance(2_000)
    const again = await relay.service.reconcile()
    expect(again.stopped.map((r) => r.reason)).toEqual(['fanout-mode'])
    expect(before.provider.active()).toEqual([])
    expect((await before.store.fanout.get())!.replications).toEqual([])
  })

  test("replicate mode: a relay still publishing into the master (a switch from hybrid) is not replicated, only the broadcaster's participant", async () => {
    const f = await fleet('replicate', 3)
    f.provider.publish(arn(0), 'bcast-1', 'broadcaster')
    relayIn(f, 0)
    const round = await f.service.reconcile()
    expect(round.started.map((r) => r.participantId)).toEqual(['bcast-1', 'bcast-1'])
    expect(f.provider.active().sort()).toEqual([`${s(0)}→${s(1)} bcast-1`, `${s(0)}→${s(2)} bcast-1`])
    await f.store.addStage(record(3), 100)
    f.provider.addStage(arn(3))
    await f.service.stageCreated((await f.store.getStage(arn(3)))!)
    expect(f.provider.active().filter((a) => a.includes(`→${s(3)} `))).toEqual([`${s(0)}→${s(3)} bcast-1`])
  })

  test('just switched to hybrid: GET /api/media/stages (and the relay token check) name the origins the first round assigns', async () => {
    const f = await fleet('hybrid', 13)
    // The relay published into every stage (relay mode) and reports 0, 7 and 12 among them.
    await f.store.putRelay({
      serverId: 'r1',
      ipAddress: '127.0.0.1',
      port: 3001,
      registeredAt: T0,
      publisherActive: true,
      connectedStages: 3,
      stageArns: [0, 7, 12].map(arn),
      lastHeartbeatAt: T0,
      offlineSince: null,
    })
    const before = (await f.service.relayStages()).map((x) => x.seq)
    expect(await f.service.relayFeeds(arn(7))).toBe(true)
    await f.service.reconcile()
    expect(f.eventsOf('relay_stages')[0]!.stageArns).toEqual([0, 7, 12].map(arn))
    expect(before).toEqual([0, 7, 12])
  })

  test('an instance that runs no rounds: 10,000 stage creations leave its memory of hooks and refusals bounded', async () => {
    const f = await fleet('hybrid', 1)
    for (let i = 1; i <= 10_000; i++) {
      // The relay reconnects each time (a new participant), not yet sending: IVS refuses each start.
      f.provider.people.delete(arn(0))
      f.provider.publish(arn(0), `relay-${i}`, 'relay-r1')
      f.provider.silent.add(`relay-${i}`)
      await f.store.addStage({ ...record(i), createdAt: f.clock.now() }, 100)
      f.provider.addStage(arn(i))
      await f.service.stageCreated((await f.store.getStage(arn(i)))!)
      await f.store.removeStage(arn(i), f.clock.now())
      f.clock.advance(500)
    }
    expect(f.count('ReplicationRefusals')).toBe(10_000)
    const { hooked, waits, told } = f.service.memory
    // 5 s of hooks, 32 s of refusals (the last 2 s hold-off and 30 s more) at one creation every 500 ms.
    expect(hooked).toBeLessThanOrEqual(10)
    expect(waits).toBeLessThanOrEqual(64)
    expect(told).toBeLessThanOrEqual(64)
  }, 30_000)

  test('an event that cannot be published after IVS did the work: the round and the hook still record it', async () => {
    const failing = {
      async publish() {
        throw new Error('the store did not answer')
      },
    }
    const f = await fleet('hybrid', 3, { events: failing })
    relayIn(f, 0)
    const round = await f.service.reconcile()
    expect(round.started.length).toBe(2)
    expect(await f.feeds()).toEqual({ [s(0)]: 'relay', [s(1)]: `replica of ${s(0)}`, [s(2)]: `replica of ${s(0)}` })
    await f.store.addStage(record(3), 100)
    f.provider.addStage(arn(3))
    expect(await f.service.stageCreated((await f.store.getStage(arn(3)))!)).toBe(false)
    expect(await f.feeds()).toMatchObject({ [s(3)]: `replica of ${s(0)}` })
    expect(f.logs.filter((l) => l.msg === 'cannot publish a fan-out event; the change itself stands').length).toBe(4)
  })
})

describe("a new stage whose origin is itself new (hybrid): asked again shortly, not left to the leader's next round", () => {
  /** 6 stages fed by the master; a 7th is a new origin, an 8th its first replica, made before the relay is in the 7th. */
  async function growing() {
    const schedule = new ManualSchedule()
    const f = await fleet('hybrid', 6, { schedule })
    relayIn(f, 0)
    // Relay r1 holds the broadcaster (serve's publisher state, from its heartbeats).
    await f.store.setPublisherState({ active: true, updatedAt: f.clock.now(), serverId: 'r1', source: 'relay' })
    await f.service.reconcile()
    const add = async (seq: number) => {
      await f.store.addStage({ ...record(seq), createdAt: f.clock.now() }, 100)
      f.provider.addStage(arn(seq))
      return f.service.stageCreated((await f.store.getStage(arn(seq)))!)
    }
    expect(await add(6)).toBe(true)
    f.provider.calls.length = 0
    expect(await add(7)).toBe(false)
    // Its origin has no source yet: nothing started, the first follow-up waits.
    expect(starts(f.provider.calls)).toEqual([])
    expect(schedule.delays).toEqual([FOLLOW_UPS_MS[0]!])
    return { f, schedule }
  }
  const settle = () => Bun.sleep(5)

  test('the relay in the new origin: the next follow-up starts the replica, once', async () => {
    const { f, schedule } = await growing()
    schedule.runAll()
    await settle()
    expect(starts(f.provider.calls)).toEqual([])
    expect(schedule.delays).toEqual([FOLLOW_UPS_MS[1]!])
    relayIn(f, 6)
    schedule.runAll()
    await settle()
    expect(starts(f.provider.calls)).toEqual([`StartParticipantReplication ${s(6)}→${s(7)} relay-r1-in-6`])
    expect(schedule.delays).toEqual([])
    expect(await f.feeds()).toMatchObject({ [s(7)]: `replica of ${s(6)}` })
    expect((await f.store.fanout.get())!.replications.filter((r) => r.destinationStageArn === arn(7)).length).toBe(1)
  })

  test('a round that fed it first: the follow-up starts nothing; a stage gone meanwhile: nothing either', async () => {
    const { f, schedule } = await growing()
    relayIn(f, 6)
    f.clock.advance(5_000)
    expect((await f.service.tick()).started).toEqual([{ sourceStageArn: arn(6), destinationStageArn: arn(7), participantId: 'relay-r1-in-6' }])
    schedule.runAll()
    await settle()
    expect(starts(f.provider.calls)).toHaveLength(1)
    expect(schedule.delays).toEqual([])

    await f.store.addStage({ ...record(8), createdAt: f.clock.now() }, 100)
    f.provider.addStage(arn(8))
    f.provider.leave(arn(6), 'relay-r1-in-6')
    expect(await f.service.stageCreated((await f.store.getStage(arn(8)))!)).toBe(false)
    expect(schedule.delays).toEqual([FOLLOW_UPS_MS[0]!])
    await f.deleteStage(arn(8))
    relayIn(f, 6)
    const before = f.provider.calls.length
    schedule.runAll()
    await settle()
    expect(f.provider.calls.slice(before)).toEqual([])
    expect(schedule.delays).toEqual([])
  })

  test('bounded: a source that never comes is asked for six times in all (15.75 s), then left to the rounds; close() cancels what waits', async () => {
    const { f, schedule } = await growing()
    const asked: number[] = []
    for (let i = 0; i < 10 && schedule.delays.length > 0; i++) {
      asked.push(...schedule.delays)
      schedule.runAll()
      await settle()
    }
    expect(asked).toEqual(FOLLOW_UPS_MS)
    expect(FOLLOW_UPS_MS.reduce((a, b) => a + b)).toBe(15_750)
    expect(f.provider.calls.filter((c) => c === `ListParticipants ${s(6)}`)).toHaveLength(1 + FOLLOW_UPS_MS.length)
    expect(starts(f.provider.calls)).toEqual([])

    await f.store.addStage({ ...record(8), createdAt: f.clock.now() }, 100)
    f.provider.addStage(arn(8))
    await f.service.stageCreated((await f.store.getStage(arn(8)))!)
    expect(schedule.delays).toEqual([FOLLOW_UPS_MS[0]!])
    f.service.close()
    expect(schedule.delays).toEqual([])
  })

  test('no relay holds the broadcaster: nothing to wait for, no follow-up (the rounds feed it once one does)', async () => {
    const { f, schedule } = await growing()
    schedule.runAll()
    await settle()
    await f.store.setPublisherState({ active: false, updatedAt: f.clock.now(), serverId: null, source: 'relay' })
    await f.store.addStage({ ...record(8), createdAt: f.clock.now() }, 100)
    f.provider.addStage(arn(8))
    schedule.runAll()
    await settle()
    expect(await f.service.stageCreated((await f.store.getStage(arn(8)))!)).toBe(false)
    expect(schedule.delays).toEqual([])
  })

  test('replicate mode does not follow up: a broadcaster not live yet is the ordinary case, the rounds ask', async () => {
    const schedule = new ManualSchedule()
    const f = await fleet('replicate', 1, { schedule })
    await f.store.addStage({ ...record(1), createdAt: f.clock.now() }, 100)
    f.provider.addStage(arn(1))
    expect(await f.service.stageCreated((await f.store.getStage(arn(1)))!)).toBe(false)
    expect(schedule.delays).toEqual([])
  })
})
