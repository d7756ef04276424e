import { describe, expect, test } from 'bun:test'
import { MemoryStore } from '../../src/store/memory'
import { short } from '../support/fake-replication'
import { arn, fleet, record, relayIn, s, T0 } from '../support/replication-fleet'

describe('replicate mode: the master broadcaster into every other stage', () => {
  test('starts what is missing, records feeds for every instance, and a second round asks IVS for nothing new', async () => {
    const f = await fleet('replicate', 3)
    f.provider.publish(arn(0), 'bcast-1', 'broadcaster')
    const round = await f.service.reconcile()
    expect(round.started.length).toBe(2)
    expect(f.provider.active().sort()).toEqual([`${s(0)}→${s(1)} bcast-1`, `${s(0)}→${s(2)} bcast-1`])
    expect(await f.feeds()).toEqual({ [s(0)]: 'direct', [s(1)]: `replica of ${s(0)}`, [s(2)]: `replica of ${s(0)}` })
    expect(f.eventsOf('replication_started')).toEqual([
      { sourceStageArn: arn(0), destinationStageArn: arn(1), participantId: 'bcast-1', timestamp: new Date(T0).toISOString() },
      { sourceStageArn: arn(0), destinationStageArn: arn(2), participantId: 'bcast-1', timestamp: new Date(T0).toISOString() },
    ])
    expect(f.count('ReplicationStarts')).toBe(2)
    f.provider.calls.length = 0
    const again = await f.service.reconcile()
    expect([again.started, again.stopped, again.pending]).toEqual([[], [], false])
    expect(f.provider.calls.filter((c) => c.startsWith('Start') || c.startsWith('Stop'))).toEqual([])
  })

  test('no broadcaster yet: nothing asked, nothing fed; a broadcaster not sending yet (409) is asked again calmly, logged once', async () => {
    const f = await fleet('replicate', 2)
    await f.service.reconcile()
    expect(f.provider.calls.filter((c) => c.startsWith('Start'))).toEqual([])
    expect(await f.feeds()).toEqual({})

    f.provider.publish(arn(0), 'bcast-1')
    f.provider.silent.add('bcast-1')
    const first = await f.service.reconcile()
    expect([first.started.length, first.pending]).toEqual([0, true])
    expect(f.count('ReplicationRefusals', { reason: 'not-publishing' })).toBe(1)
    // Within the backoff no start is sent, however often the rounds come.
    for (let i = 0; i < 3; i++) await f.service.reconcile()
    expect(f.provider.calls.filter((c) => c.startsWith('Start')).length).toBe(1)
    // Then 2 s, 4 s, 8 s … between asks; one log line for the participant.
    f.clock.advance(2_000)
    await f.service.reconcile()
    f.clock.advance(2_000)
    await f.service.reconcile()
    expect(f.provider.calls.filter((c) => c.startsWith('Start')).length).toBe(2)
    f.clock.advance(2_000)
    await f.service.reconcile()
    expect(f.provider.calls.filter((c) => c.startsWith('Start')).length).toBe(3)
    expect(f.logs.filter((l) => String(l.msg).includes('not publishing yet')).length).toBe(1)
    // Live: the next ask succeeds.
    f.provider.silent.delete('bcast-1')
    f.clock.advance(8_000)
    const live = await f.service.reconcile()
    expect(live.started.length).toBe(1)
    expect(await f.feeds()).toEqual({ [s(0)]: 'direct', [s(1)]: `replica of ${s(0)}` })
  })

  test('the broadcaster back as a new participant: replicated again, the old replicas stopped once the new ones run', async () => {
    const f = await fleet('replicate', 3)
    f.provider.publish(arn(0), 'bcast-1')
    await f.service.reconcile()
    // Gone: its replicas stay (IVS's reconnect window), nothing is stopped or started.
    f.provider.leave(arn(0), 'bcast-1')
    const away = await f.service.reconcile()
    expect([away.started, away.stopped]).toEqual([[], []])
    expect(f.provider.active().length).toBe(2)
    // Back with a new token: a new participant.
    f.provider.publish(arn(0), 'bcast-2')
    const back = await f.service.reconcile()
    expect(back.started.map((r) => r.participantId)).toEqual(['bcast-2', 'bcast-2'])
    expect(back.stopped.map((r) => [r.participantId, r.reason])).toEqual([
      ['bcast-1', 'superseded'],
      ['bcast-1', 'superseded'],
    ])
    expect(f.provider.active().sort()).toEqual([`${s(0)}→${s(1)} bcast-2`, `${s(0)}→${s(2)} bcast-2`])
    expect(f.eventsOf('replication_stopped').map((e) => e.reason)).toEqual(['superseded', 'superseded'])
    expect(f.count('ReplicationStops', { reason: 'superseded' })).toBe(2)
  })

  test('a replication IVS ended by itself (the window passed) is reported once as ended', async () => {
    const f = await fleet('replicate', 2)
    f.provider.publish(arn(0), 'bcast-1')
    await f.service.reconcile()
    f.provider.leave(arn(0), 'bcast-1')
    f.provider.expire('bcast-1')
    await f.service.reconcile()
    await f.service.reconcile()
    expect(f.eventsOf('replication_stopped').map((e) => [e.participantId, e.reason])).toEqual([['bcast-1', 'ended']])
    expect(await f.feeds()).toEqual({})
  })

  test('a new stage gets its replica right after it is created, before stage_created (the hook); the relay does not publish there', async () => {
    const f = await fleet('replicate', 2)
    f.provider.publish(arn(0), 'bcast-1')
    await f.service.reconcile()
    await f.store.addStage(record(2), 100)
    f.provider.addStage(arn(2))
    expect(await f.service.stageCreated((await f.store.getStage(arn(2)))!)).toBe(false)
    expect(f.provider.active()).toContain(`${s(0)}→${s(2)} bcast-1`)
    expect(await f.feeds()).toMatchObject({ [s(2)]: `replica of ${s(0)}` })
    // The leader's next round finds it running: nothing more.
    expect((await f.service.reconcile()).started).toEqual([])
  })

  test("a stage another instance just made is left to that instance's hook for 5 s (no second start, no 409); the leader's own hook's stage is not", async () => {
    const f = await fleet('replicate', 2)
    f.provider.publish(arn(0), 'bcast-1')
    await f.service.reconcile()
    // Made by another instance a moment ago, its hook still on its way to IVS: the leader's round leaves it, and comes again soon.
    await f.store.addStage({ ...record(2), createdAt: T0 }, 100)
    f.provider.addStage(arn(2))
    f.provider.calls.length = 0
    const round = await f.service.reconcile()
    expect([round.started, round.pending]).toEqual([[], true])
    expect(f.provider.calls.filter((c) => c.startsWith('Start'))).toEqual([])
    // Its creator's hook failed: once the stage is 5 s old the leader starts the replica itself.
    f.clock.advance(5_000)
    expect((await f.service.reconcile()).started.map((r) => short(r.destinationStageArn))).toEqual([s(2)])
    // A stage this instance's own hook prepared is not waited for.
    await f.store.addStage({ ...record(3), createdAt: f.clock.now() }, 100)
    f.provider.addStage(arn(3))
    f.provider.silent.add('bcast-1')
    await f.service.stageCreated((await f.store.getStage(arn(3)))!)
    f.provider.silent.delete('bcast-1')
    f.clock.advance(2_000)
    expect((await f.service.reconcile()).started.map((r) => short(r.destinationStageArn))).toEqual([s(3)])
  })

  test('before a stage is deleted its replications are stopped (the hook), with the reason', async () => {
    const f = await fleet('replicate', 3)
    f.provider.publish(arn(0), 'bcast-1')
    await f.service.reconcile()
    await f.deleteStage(arn(2))
    expect(f.provider.active()).toEqual([`${s(0)}→${s(1)} bcast-1`])
    expect(f.eventsOf('replication_stopped')).toEqual([
      { sourceStageArn: arn(0), destinationStageArn: arn(2), participantId: 'bcast-1', reason: 'stage-deleted', timestamp: new Date(T0).toISOString() },
    ])
    expect((await f.store.fanout.get())!.replications.map((r) => short(r.destinationStageArn))).toEqual([s(1)])
  })

  test('a new leader rebuilds from IVS alone (the store lost the view): running replications are found, not started twice', async () => {
    const first = await fleet('replicate', 3)
    first.provider.publish(arn(0), 'bcast-1')
    await first.service.reconcile()
    // Another instance, another (empty) store's view of the fan-out, the same IVS and stages.
    const store = new MemoryStore({ stageCapacity: 10 })
    const next = await fleet('replicate', 3, { store, provider: first.provider })
    first.provider.calls.length = 0
    const round = await next.service.tick()
    expect([round.started, round.stopped]).toEqual([[], []])
    expect(first.provider.calls.filter((c) => c.startsWith('Start'))).toEqual([])
    expect(await next.feeds()).toEqual({ [s(0)]: 'direct', [s(1)]: `replica of ${s(0)}`, [s(2)]: `replica of ${s(0)}` })
    expect((await store.fanout.get())!.replications.length).toBe(2)
  })

  test('rounds come every 5 s, every 2 s while something is missing, spaced to ~2 IVS operations a second', async () => {
    const f = await fleet('replicate', 2)
    f.provider.publish(arn(0), 'bcast-1')
    await f.service.tick()
    f.provider.calls.length = 0
    f.clock.advance(1_000)
    await f.service.tick()
    expect(f.provider.calls).toEqual([])
    f.clock.advance(4_000)
    await f.service.tick()
    expect(f.provider.calls.length).toBeGreaterThan(0)
  })
})

describe('hybrid mode: the relay into origins, replicas of its participant elsewhere', () => {
  test('8 stages: origins are the master and stage 6; each stage gets its origin relay participant; the relay learns its stages', async () => {
    const f = await fleet('hybrid', 8)
    relayIn(f, 0)
    const first = await f.service.reconcile()
    expect((await f.service.relayStages()).map((x) => x.seq)).toEqual([0, 6])
    expect(f.eventsOf('relay_stages')).toEqual([{ stageArns: [arn(0), arn(6)], timestamp: new Date(T0).toISOString() }])
    expect(first.started.map((r) => short(r.destinationStageArn))).toEqual([1, 2, 3, 4, 5].map(s))
    // Stage 7's origin (6) has no relay participant yet: pending.
    expect(first.pending).toBe(true)
    expect(await f.feeds()).toEqual({ [s(0)]: 'relay', ...Object.fromEntries([1, 2, 3, 4, 5].map((i) => [s(i), `replica of ${s(0)}`])) })
    relayIn(f, 6)
    const second = await f.service.reconcile()
    expect(second.started).toEqual([{ sourceStageArn: arn(6), destinationStageArn: arn(7), participantId: 'relay-r1-in-6' }])
    expect(await f.feeds()).toMatchObject({ [s(6)]: 'relay', [s(7)]: `replica of ${s(6)}` })
    // Origins unchanged: no second relay_stages.
    expect(f.eventsOf('relay_stages').length).toBe(1)
    // A relay publish token is for origins only.
    expect(await f.service.relayFeeds(arn(6))).toBe(true)
    expect(await f.service.relayFeeds(arn(3))).toBe(false)
  })

  test("a draining origin's stage is re-attached: it becomes an origin; its old replica stays until the relay publishes there, then goes", async () => {
    const f = await fleet('hybrid', 8)
    relayIn(f, 0)
    relayIn(f, 6)
    await f.service.reconcile()
    expect(f.provider.active()).toContain(`${s(6)}→${s(7)} relay-r1-in-6`)
    await f.store.updateStage(arn(6), { status: 'draining', drainingSince: T0 })
    const moved = await f.service.reconcile()
    // The master is full: stage 7 becomes an origin; the relay is told; the replica from 6 is kept for now.
    expect((await f.service.relayStages()).map((x) => x.seq)).toEqual([0, 6, 7])
    expect(f.eventsOf('relay_stages').at(-1)!.stageArns).toEqual([arn(0), arn(6), arn(7)])
    expect(moved.stopped).toEqual([])
    expect(f.provider.active()).toContain(`${s(6)}→${s(7)} relay-r1-in-6`)
    // The relay publishes into 7: the replica goes (reassigned). Never two feeds past that round.
    relayIn(f, 7)
    const handed = await f.service.reconcile()
    expect(handed.stopped.map((r) => [short(r.destinationStageArn), r.reason])).toEqual([[s(7), 'reassigned']])
    expect(f.provider.active().filter((a) => a.includes(`→${s(7)}`))).toEqual([])
    expect(await f.feeds()).toMatchObject({ [s(7)]: 'relay' })
  })

  test("an origin about to be deleted hands its stages over first: the other origin's replica started, then the old one stopped (no stage left without a feed)", async () => {
    const f = await fleet('hybrid', 13)
    for (const seq of [0, 6, 12]) relayIn(f, seq)
    await f.service.reconcile()
    expect(f.provider.active().filter((a) => a.startsWith(`${s(6)}→`)).length).toBe(5)
    f.provider.calls.length = 0
    // DELETE /api/stage on an active origin (scale-down's draining one alike).
    await f.deleteStage(arn(6))
    const moved = [7, 8, 9, 10, 11]
    const changes = f.provider.calls.filter((c) => c.startsWith('Start') || c.startsWith('Stop'))
    expect(changes.slice(0, 5)).toEqual(moved.map((i) => `StartParticipantReplication ${s(12)}→${s(i)} relay-r1-in-12`))
    expect(changes.slice(5)).toEqual(moved.map((i) => `StopParticipantReplication ${s(6)}→${s(i)} relay-r1-in-6`))
    expect(f.eventsOf('replication_stopped').map((e) => e.reason)).toEqual(moved.map(() => 'reassigned'))
    expect(await f.feeds()).toMatchObject(Object.fromEntries(moved.map((i) => [s(i), `replica of ${s(12)}`])))
    expect((await f.store.fanout.get())!.origins).toEqual([arn(0), arn(12)])
  })

  test('a draining origin whose stages need a new origin is held (not deleted) until they are fed from it, 30 s at most', async () => {
    const f = await fleet('hybrid', 12)
    relayIn(f, 0)
    relayIn(f, 6)
    await f.service.reconcile()
    const held = async () => f.service.holdsStages((await f.store.getStage(arn(6)))!)
    expect(await held()).toBe(false)
    await f.store.updateStage(arn(6), { status: 'draining', drainingSince: T0 })
    expect(await held()).toBe(true)
    // The master is full: stage 7 becomes an origin; until the relay publishes there, 6 still feeds 7-11.
    await f.service.reconcile()
    expect(await held()).toBe(true)
    relayIn(f, 7)
    await f.service.reconcile()
    expect(f.provider.active().filter((a) => a.startsWith(`${s(6)}→`))).toEqual([])
    expect(await held()).toBe(false)
    // Never held past 30 s of draining, handed over or not.
    const other = await fleet('hybrid', 12)
    relayIn(other, 0)
    relayIn(other, 6)
    await other.service.reconcile()
    await other.store.updateStage(arn(6), { status: 'draining', drainingSince: T0 })
    other.clock.advance(29_999)
    expect(await other.service.holdsStages((await other.store.getStage(arn(6)))!)).toBe(true)
    other.clock.advance(1)
    expect(await other.service.holdsStages((await other.store.getStage(arn(6)))!)).toBe(false)
  })

  test('rounds are spaced by the busiest IVS operation (quotas are per operation): with 3 origins a pending round comes again after 2 s', async () => {
    const f = await fleet('hybrid', 13)
    relayIn(f, 0)
    relayIn(f, 6)
    // The first round starts 10 replicas: 10 StartParticipantReplication calls, the next round 5 s later.
    expect((await f.service.tick()).started.length).toBe(10)
    f.clock.advance(4_999)
    f.provider.calls.length = 0
    await f.service.tick()
    expect(f.provider.calls).toEqual([])
    f.clock.advance(1)
    // The relay is not in the third origin yet: pending. Three participant reads (GetStage and ListParticipants each at
    // IVS) and two replica lists: 8 calls, 3 at most of one operation (spaced by all 8 at 2 a second, 4 s).
    expect((await f.service.tick()).pending).toBe(true)
    expect(f.provider.calls.length).toBe(5)
    f.provider.calls.length = 0
    f.clock.advance(2_000)
    await f.service.tick()
    expect(f.provider.calls.length).toBeGreaterThan(0)
  })

  test('the relay back as a new participant in an origin: a handover, new replica first', async () => {
    const f = await fleet('hybrid', 3)
    relayIn(f, 0, 'relay-a')
    await f.service.reconcile()
    f.provider.leave(arn(0), 'relay-a')
    relayIn(f, 0, 'relay-b')
    const round = await f.service.reconcile()
    expect(round.started.map((r) => r.participantId)).toEqual(['relay-b', 'relay-b'])
    expect(round.stopped.map((r) => [r.participantId, r.reason])).toEqual([
      ['relay-a', 'superseded'],
      ['relay-a', 'superseded'],
    ])
    expect(f.provider.active().sort()).toEqual([`${s(0)}→${s(1)} relay-b`, `${s(0)}→${s(2)} relay-b`])
  })

  test('a new stage: the hook says whether the relay publishes into it and starts the replica of its origin', async () => {
    const f = await fleet('hybrid', 6)
    relayIn(f, 0)
    await f.service.reconcile()
    await f.store.addStage(record(6), 100)
    f.provider.addStage(arn(6))
    // The master feeds 5: the 7th stage is an origin, the relay's.
    expect(await f.service.stageCreated((await f.store.getStage(arn(6)))!)).toBe(true)
    await f.store.addStage(record(7), 100)
    f.provider.addStage(arn(7))
    relayIn(f, 6)
    expect(await f.service.stageCreated((await f.store.getStage(arn(7)))!)).toBe(false)
    expect(f.provider.active()).toContain(`${s(6)}→${s(7)} relay-r1-in-6`)
  })

  test('a fleet that was relay-fed everywhere (switched to hybrid): the relay is told to keep ⌈N/6⌉ origins and the rest become replicas', async () => {
    const f = await fleet('hybrid', 4)
    await f.store.putRelay({
      serverId: 'r1',
      ipAddress: '127.0.0.1',
      port: 3001,
      registeredAt: T0,
      publisherActive: true,
      connectedStages: 4,
      stageArns: [0, 1, 2, 3].map(arn),
      lastHeartbeatAt: T0,
      offlineSince: null,
    })
    for (const i of [0, 1, 2, 3]) relayIn(f, i)
    const round = await f.service.reconcile()
    expect(f.eventsOf('relay_stages')[0]!.stageArns).toEqual([arn(0)])
    // New replicas first; the relay leaves those stages when it syncs.
    expect(round.started.map((r) => short(r.destinationStageArn)).sort()).toEqual([1, 2, 3].map(s))
  })
})

describe('relay mode and local stages', () => {
  test('relay mode: IVS is not read; replications an earlier mode left are stopped once', async () => {
    const before = await fleet('replicate', 2)
    before.provider.publish(arn(0), 'bcast-1')
    await before.service.reconcile()
    const relay = await fleet('relay', 0, { store: before.store, provider: before.provider })
    before.provider.calls.length = 0
    const round = await relay.service.reconcile()
    expect(round.stopped.map((r) => r.reason)).toEqual(['fanout-mode'])
    expect(before.provider.active()).toEqual([])
    before.provider.calls.length = 0
    await relay.service.reconcile()
    expect(before.provider.calls).toEqual([])
    expect(await relay.service.stageCreated((await before.store.getStage(arn(1)))!)).toBe(true)
    expect((await relay.service.relayStages()).length).toBe(2)
  })

  test('local stages: nothing replicated, said once; the modes still shape where the relay publishes', async () => {
    const f = await fleet('hybrid', 8, { local: true })
    await f.service.reconcile()
    await f.service.reconcile()
    expect(f.provider.calls.filter((c) => !c.startsWith('ListParticipants'))).toEqual([])
    expect(f.logs.filter((l) => String(l.msg).includes('local stages carry no media')).length).toBe(1)
    expect((await f.service.relayStages()).map((x) => x.seq)).toEqual([0, 6])
    expect(await f.feeds()).toEqual({})
    const replicate = await fleet('replicate', 2, { local: true })
    expect(await replicate.service.relayStages()).toEqual([])
  })
})
