import { expect, test } from 'bun:test'
import { CreateLock } from '../../src/fleet/create-lock'
import { LeaderLease } from '../../src/fleet/leader'
import { FleetLoop } from '../../src/fleet/loop'
import { StageService } from '../../src/fleet/stages'
import { LocalStageProvider } from '../../src/ivs/local'
import { silentLogger } from '../../src/log'
import { Counters } from '../../src/metrics/counters'
import { MemoryStore } from '../../src/store/memory'
import type { StageView } from '../../src/store/types'
import { ManualClock, ManualTicker } from '../support/clock'

/** The leader's loop deletes a drained, empty stage only once the fan-out no longer holds it (hybrid: its stages handed over). */
test('a draining origin that still feeds stages is not retired until the fan-out lets it go', async () => {
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
  const held = new Set<string>()
  const asked: string[] = []
  const replication = {
    tick: async () => ({ started: [], stopped: [], pending: false }),
    holdsStages: async (stage: StageView) => {
      asked.push(stage.arn)
      return held.has(stage.arn)
    },
  }
  const loop = new FleetLoop(
    {
      stages,
      viewers: { sweepSilent: async () => 0 },
      relays: { expireSilent: async () => [], probePublisher: async () => null },
      replication,
      lease: new LeaderLease({ store, clock, logger }, 'i-1', 10_000),
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
