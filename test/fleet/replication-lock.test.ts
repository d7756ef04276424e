import { describe, expect, test } from 'bun:test'
import { arn, fleet, heldIvs, heldLock, record, relayIn, s } from '../support/replication-fleet'

/**
 * Two serve instances on one store and one IVS: the leader's round and a hook on the other instance
 * (DELETE /api/stage, a new stage) change the fan-out one at a time, under the "fanout" store lease.
 */
describe('the fan-out lock: rounds and hooks of different instances never interleave', () => {
  /** The leader (its IVS reads held back on demand) and another instance, on one store, IVS and clock. */
  async function twoInstances(stages: number, relayOrigins: number[]) {
    const first = await fleet('hybrid', stages)
    for (const seq of relayOrigins) relayIn(first, seq)
    await first.service.reconcile()
    const held = heldIvs(first.provider)
    const shared = { store: first.store, provider: first.provider, clock: first.clock }
    const leader = await fleet('hybrid', 0, { ...shared, ivs: held.ivs })
    const other = await fleet('hybrid', 0, shared)
    return { ivs: first.provider, store: first.store, clock: first.clock, held, leader, other }
  }
  const intoStage = (active: string[], seq: number) => active.filter((a) => a.includes(`→${s(seq)} `))

  test("an origin deleted on another instance while the leader's round runs: its stages end up fed by the other origin, none without a feed", async () => {
    // 13 stages: origins 0, 6 and 12; 6 feeds 7-11.
    const { ivs, store, held, leader, other } = await twoInstances(13, [0, 6, 12])
    expect(intoStage(ivs.active(), 7)).toEqual([`${s(6)}→${s(7)} relay-r1-in-6`])
    // The leader's round has read the stages and the view and waits on IVS…
    const gate = held.hold()
    const round = leader.service.reconcile()
    await gate.reached
    // …when DELETE /api/stage/<6> lands on the other instance (its DeleteStage done once the leader's round is).
    const deleting = other.deleteStage(arn(6), () => round)
    await Bun.sleep(20)
    gate.open()
    await Promise.all([round, deleting])
    expect(await store.getStage(arn(6))).toBeNull()
    for (const seq of [7, 8, 9, 10, 11]) expect(intoStage(ivs.active(), seq)).toEqual([`${s(12)}→${s(seq)} relay-r1-in-12`])
    expect((await store.fanout.get())!.origins).toEqual([arn(0), arn(12)])
  })

  test("a stage made on another instance while the leader's round runs: the view keeps its origin and its replica", async () => {
    // 6 stages, the master feeds 1-5: a 7th is an origin, an 8th a replica of it.
    const { ivs, store, clock, held, leader, other } = await twoInstances(6, [0])
    const gate = held.hold()
    const round = leader.service.reconcile()
    await gate.reached
    await store.addStage({ ...record(6), createdAt: clock.now() }, 100)
    ivs.addStage(arn(6))
    const relay = other.service.stageCreated((await store.getStage(arn(6)))!)
    await Bun.sleep(20)
    gate.open()
    await round
    expect(await relay).toBe(true)
    const view = (await store.fanout.get())!
    expect(view.origins).toEqual([arn(0), arn(6)])

    relayIn(other, 6)
    const again = held.hold()
    const next = leader.service.reconcile()
    await again.reached
    await store.addStage({ ...record(7), createdAt: clock.now() }, 100)
    ivs.addStage(arn(7))
    const replica = other.service.stageCreated((await store.getStage(arn(7)))!)
    await Bun.sleep(20)
    again.open()
    await Promise.all([next, replica])
    expect(intoStage(ivs.active(), 7)).toEqual([`${s(6)}→${s(7)} relay-r1-in-6`])
    expect(await other.feeds()).toMatchObject({ [s(7)]: `replica of ${s(6)}` })
    expect((await store.fanout.get())!.replications.filter((r) => r.destinationStageArn === arn(7)).length).toBe(1)
  })

  test("a new stage's hook does not wait for the leader's IVS reads: its replica starts while they run, and the round then starts it no second time", async () => {
    // 13 stages: origins 0, 6 and 12; stage 13 (a 14th) is a replica of 12.
    const { ivs, store, clock, held, leader, other } = await twoInstances(13, [0, 6, 12])
    const gate = held.hold()
    const round = leader.service.reconcile()
    await gate.reached
    await store.addStage({ ...record(13), createdAt: clock.now() }, 100)
    ivs.addStage(arn(13))
    ivs.calls.length = 0
    // The leader is still reading IVS (held): the hook takes the lock and starts the replica at once.
    expect(await other.service.stageCreated((await store.getStage(arn(13)))!)).toBe(false)
    expect(ivs.calls.filter((c) => c.startsWith('Start'))).toEqual([`StartParticipantReplication ${s(12)}→${s(13)} relay-r1-in-12`])
    expect(other.logs.filter((l) => String(l.msg).startsWith('the fan-out is busy'))).toEqual([])
    gate.open()
    expect(await round).toEqual({ started: [], stopped: [], pending: false })
    // The round used its reads (one ListParticipants per origin, read before the hook), caught up on the hook's replica.
    expect(ivs.calls.filter((c) => c.startsWith('Start') || c.startsWith('Stop'))).toEqual([`StartParticipantReplication ${s(12)}→${s(13)} relay-r1-in-12`])
    expect(ivs.calls.filter((c) => c.startsWith('ListParticipants ')).length).toBe(1 + 3)
    const view = (await store.fanout.get())!
    expect(view.replications.filter((r) => r.destinationStageArn === arn(13))).toEqual([
      { sourceStageArn: arn(12), destinationStageArn: arn(13), participantId: 'relay-r1-in-12' },
    ])
    expect(await other.feeds()).toMatchObject({ [s(13)]: `replica of ${s(12)}` })
  })

  test('a replica stage deleted while the leader reads IVS: the round, caught up, neither stops its replication again nor keeps it in the view', async () => {
    // 14 stages: origins 0, 6 and 12 (13 stages left after the delete still need three).
    const { ivs, store, held, leader, other } = await twoInstances(14, [0, 6, 12])
    // The leader has listed origin 6's replicas (9 among them) and waits on its read of origin 12.
    const gate = held.hold(2)
    const round = leader.service.reconcile()
    await gate.reached
    ivs.calls.length = 0
    await other.deleteStage(arn(9))
    expect(ivs.calls.filter((c) => c.startsWith('Stop'))).toEqual([`StopParticipantReplication ${s(6)}→${s(9)} relay-r1-in-6`])
    gate.open()
    expect(await round).toEqual({ started: [], stopped: [], pending: false })
    expect(ivs.calls.filter((c) => c.startsWith('Stop') || c.startsWith('Start'))).toEqual([`StopParticipantReplication ${s(6)}→${s(9)} relay-r1-in-6`])
    const view = (await store.fanout.get())!
    expect(view.replications.some((r) => r.destinationStageArn === arn(9))).toBe(false)
    expect(view.feeds[arn(9)]).toBeUndefined()
    expect(view.replications.length).toBe(14 - 3 - 1)
  })

  test('an origin made while the leader read IVS is read under the lock, on its own; an origin gone makes the round read them all again', async () => {
    // 12 stages: origins 0 and 6; a 13th is an origin the leader's reads did not cover.
    const { ivs, store, clock, held, leader, other } = await twoInstances(12, [0, 6])
    const gate = held.hold()
    const round = leader.service.reconcile()
    await gate.reached
    await store.addStage({ ...record(12), createdAt: clock.now() }, 100)
    ivs.addStage(arn(12))
    expect(await other.service.stageCreated((await store.getStage(arn(12)))!)).toBe(true)
    relayIn(other, 12)
    ivs.calls.length = 0
    gate.open()
    await round
    // The held read of 0 and the read of 6 (both before the lock), then 12 alone (under it).
    expect(ivs.calls.filter((c) => c.startsWith('ListParticipants '))).toEqual([0, 6, 12].map((n) => `ListParticipants ${s(n)}`))
    const view = (await store.fanout.get())!
    expect(view.origins).toEqual([arn(0), arn(6), arn(12)])
    expect(view.feeds[arn(12)]).toEqual({ kind: 'relay' })

    // Origin 6 deleted on the other instance while the leader reads: its reads of 6 no longer stand.
    const again = held.hold()
    const next = leader.service.reconcile()
    await again.reached
    await other.deleteStage(arn(6))
    ivs.calls.length = 0
    again.open()
    await next
    // Its read of 6 finds the stage gone (not found: no error, the reads just do not stand); under the lock, 0 and 12 again.
    expect(ivs.calls.filter((c) => c.startsWith('ListParticipants '))).toEqual([0, 6, 0, 12].map((n) => `ListParticipants ${s(n)}`))
    expect((await store.fanout.get())!.origins).toEqual([arn(0), arn(12)])
  })

  describe('between its IVS reads and the lock (the reads done, the lock not yet taken)', () => {
    /** The leader with its lock held back on demand, and another instance, on one store, IVS and clock. */
    async function readThenWait(stages: number, relayOrigins: number[]) {
      const first = await fleet('hybrid', stages)
      for (const seq of relayOrigins) relayIn(first, seq)
      await first.service.reconcile()
      const gated = heldLock()
      const shared = { store: first.store, provider: first.provider, clock: first.clock }
      const leader = await fleet('hybrid', 0, { ...shared, lock: gated.wrap })
      const other = await fleet('hybrid', 0, shared)
      const gate = gated.hold()
      const round = leader.service.reconcile()
      await gate.reached
      return { ivs: first.provider, store: first.store, clock: first.clock, leader, other, round, open: gate.open }
    }

    test("a hook's replica started meanwhile is taken from the view: not started a second time", async () => {
      const { ivs, store, clock, other, round, open } = await readThenWait(13, [0, 6, 12])
      await store.addStage({ ...record(13), createdAt: clock.now() }, 100)
      ivs.addStage(arn(13))
      await other.service.stageCreated((await store.getStage(arn(13)))!)
      ivs.calls.length = 0
      open()
      expect(await round).toEqual({ started: [], stopped: [], pending: false })
      expect(ivs.calls).toEqual([])
      expect((await store.fanout.get())!.replications.filter((r) => r.destinationStageArn === arn(13))).toHaveLength(1)
      expect(other.eventsOf('replication_started').filter((e) => e.destinationStageArn === arn(13))).toHaveLength(1)
    })

    test('a stage deleted meanwhile by its hook: its replication, stopped by the hook, is not stopped again nor kept', async () => {
      const { ivs, store, other, round, open } = await readThenWait(14, [0, 6, 12])
      await other.deleteStage(arn(9))
      ivs.calls.length = 0
      open()
      expect(await round).toEqual({ started: [], stopped: [], pending: false })
      expect(ivs.calls).toEqual([])
      expect((await store.fanout.get())!.replications.some((r) => r.destinationStageArn === arn(9))).toBe(false)
    })

    test('an origin deleted meanwhile: the reads no longer stand and IVS is read again under the lock', async () => {
      const { ivs, store, other, round, open } = await readThenWait(13, [0, 6, 12])
      await other.deleteStage(arn(6))
      ivs.calls.length = 0
      open()
      await round
      expect(ivs.calls.filter((c) => c.startsWith('ListParticipants '))).toEqual([0, 12].map((n) => `ListParticipants ${s(n)}`))
      expect((await store.fanout.get())!.origins).toEqual([arn(0), arn(12)])
    })
  })

  test("a hook that cannot get the lock within its wait leaves its stage to the leader's next round (logged); a deleted stage is deleted anyway", async () => {
    const f = await fleet('hybrid', 6)
    relayIn(f, 0)
    await f.service.reconcile()
    // Another instance holds the fan-out and does not let go.
    expect(await f.store.acquireLease('fanout', 'someone-else', 60_000, f.clock.now())).toBe(true)
    await f.store.addStage({ ...record(6), createdAt: f.clock.now() }, 100)
    f.provider.addStage(arn(6))
    f.provider.calls.length = 0
    // The 7th stage is an origin: stage_created says so all the same (as GET /api/media/stages does).
    expect(await f.service.stageCreated((await f.store.getStage(arn(6)))!)).toBe(true)
    expect(f.provider.calls.filter((c) => c.startsWith('Start'))).toEqual([])
    expect(f.logs.filter((l) => l.msg === "the fan-out is busy: a new stage's feed is left to the leader's next round").length).toBe(1)
    await f.deleteStage(arn(5))
    expect(await f.store.getStage(arn(5))).toBeNull()
    expect(f.logs.filter((l) => l.msg === "the fan-out is busy: a deleted stage's stages are handed over by the leader's next round").length).toBe(1)
    // The leader's round reads IVS without the lock, then waits for it as long as a hook would: in vain,
    // it changes nothing (no start, no stop, no view written) and the next tick asks again.
    f.clock.advance(5_000)
    f.provider.calls.length = 0
    const viewBefore = await f.store.fanout.get()
    expect(await f.service.tick()).toEqual({ started: [], stopped: [], pending: false })
    expect(f.provider.calls.filter((c) => !c.startsWith('List'))).toEqual([])
    expect(f.provider.calls.length).toBeGreaterThan(0)
    expect(await f.store.fanout.get()).toEqual(viewBefore)
    await f.store.releaseLease('fanout', 'someone-else')
    // The reads spent in vain count: the next round comes after the usual spacing, not at the next tick.
    expect(await f.service.tick()).toEqual({ started: [], stopped: [], pending: false })
    f.clock.advance(5_000)
    // The fleet is 6 stages again: the master feeds the new one.
    expect((await f.service.tick()).started).toEqual([{ sourceStageArn: arn(0), destinationStageArn: arn(6), participantId: 'relay-r1-in-0' }])
    expect((await f.store.fanout.get())!.origins).toEqual([arn(0)])
  })
})
