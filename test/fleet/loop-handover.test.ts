import { expect, test } from 'bun:test'
import { CreateLock } from '../../src/fleet/create-lock'
import { LeaderLease } from '../../src/fleet/leader'
import { FleetLoop, type FleetLoopDeps } from '../../src/fleet/loop'
import type { LeaderTick } from '../../src/fleet/replication'
import { StageService } from '../../src/fleet/stages'
import { LocalStageProvider } from '../../src/ivs/local'
import { silentLogger } from '../../src/log'
import { Counters } from '../../src/metrics/counters'
import { MemoryStore } from '../../src/store/memory'
import { ManualClock, ManualTicker } from '../support/clock'

/** A leader's loop on the memory store and local stages, with the fan-out given (a stub). */
function leaderLoop(replication: NonNullable<FleetLoopDeps['replication']>, sweepSilent = async () => 0) {
  const store = new MemoryStore({ stageCapacity: 10 })
  const clock = new ManualClock()
  const logger = silentLogger
  const provider = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
  const lock = new CreateLock(
    { store, clock, sleep: async () => {}, ticker: new ManualTicker(), logger },
    { instanceId: 'i-1', spacingMs: 0, leaseMs: 3_000, renewMs: 1_000, pollMs: 10, maxWaitMs: 100 },
  )
  const stages = new StageService(
    { store, provider, lock, events: { publish: async () => {} }, counters: new Counters(), clock, logger },
    { fleetId: 'fl', maxStages: 5, masterStageArn: null },
  )
  const lease = new LeaderLease({ store, clock, logger }, 'i-1', 10_000)
  const loop = new FleetLoop(
    {
      stages,
      viewers: { sweepSilent },
      relays: { expireSilent: async () => [], probePublisher: async () => null },
      replication,
      lease,
      store,
      clock,
      logger,
      ticker: new ManualTicker(),
    },
    {
      tickMs: 1_000,
      heartbeatTimeoutMs: 60_000,
      policy: { scaleUpThreshold: 8, scaleDownThreshold: 0, maxStages: 5, stageWarmupMs: 300_000, drainGraceMs: 120_000 },
    },
  )
  return { store, clock, stages, lease, loop }
}

const NOTHING = { started: [], stopped: [], pending: false }

/** The leader's loop deletes a drained, empty stage only once the fan-out no longer holds it (hybrid: its stages handed over). */
test('a draining origin that still feeds stages is not retired until the fan-out lets it go', async () => {
  const held = new Set<string>()
  const asked: string[] = []
  const { store, stages, loop } = leaderLoop({
    tick: async () => NOTHING,
    close: () => {},
    holdsStages: async (stage) => {
      asked.push(stage.arn)
      return held.has(stage.arn)
    },
  })
  await stages.start()
  const origin = await stages.create({ name: 'origin' })
  await stages.drain(origin.arn)
  held.add(origin.arn)
  await loop.tick()
  expect(asked).toEqual([origin.arn])
  expect(await store.getStage(origin.arn)).not.toBeNull()
  held.delete(origin.arn)
  await loop.tick()
  expect(await store.getStage(origin.arn)).toBeNull()
})

test("a replication round runs beside the loop: one that takes long holds up neither the sweeper nor the lease's renewal; thorough once on becoming leader", async () => {
  const ticks: { thorough: boolean | undefined; leading: () => boolean }[] = []
  let finish = () => {}
  const slow = new Promise<typeof NOTHING>((resolve) => {
    finish = () => resolve(NOTHING)
  })
  let sweeps = 0
  let closed = 0
  const { store, clock, stages, lease, loop } = leaderLoop(
    {
      close: () => {
        closed++
      },
      tick: (leader: LeaderTick = {}) => {
        ticks.push({ thorough: leader.thorough, leading: leader.leading ?? (() => true) })
        return slow
      },
      holdsStages: async () => false,
    },
    async () => {
      sweeps++
      return 0
    },
  )
  await stages.start()
  // A hybrid round at 200 stages takes ~7 s: the loop's ticks go on meanwhile (each renews the lease).
  for (let second = 0; second < 12; second++) {
    await loop.tick()
    clock.advance(1_000)
  }
  expect(sweeps).toBe(12)
  expect(ticks.map((t) => t.thorough)).toEqual([true, ...Array(11).fill(false)])
  expect(ticks[0]!.leading()).toBe(true)
  // Another instance takes the lease (this one's lapsed): the round running is told it no longer leads.
  clock.advance(10_000)
  expect(ticks[0]!.leading()).toBe(false)
  expect(await store.acquireLease('leader', 'i-2', 10_000, clock.now())).toBe(true)
  await loop.tick()
  expect([lease.isLeader, ticks.length]).toEqual([false, 12])
  // Leader again: its next round reads IVS thoroughly.
  await store.releaseLease('leader', 'i-2')
  await loop.tick()
  expect(ticks.at(-1)!.thorough).toBe(true)
  finish()
  await loop.stop()
  // Stopping cancels the new stages' follow-ups too, once the round has ended.
  expect(closed).toBe(1)
})
