/**
 * The store loses the fleet's records (FLUSHALL, an empty replica promoted): the leader's next tick
 * puts back the master and the fleet's tagged stages from the configuration and the provider, and
 * until then the master is "not available" with the reason. On the memory store, "lost" is a fresh
 * MemoryStore swapped in under the services.
 */
import { describe, expect, test } from 'bun:test'
import { CreateLock } from '../../src/fleet/create-lock'
import { LeaderLease } from '../../src/fleet/leader'
import { FleetLoop } from '../../src/fleet/loop'
import { FLEET_TAG, StageService } from '../../src/fleet/stages'
import { LocalStageProvider } from '../../src/ivs/local'
import { createLogger, type Logger } from '../../src/log'
import { Counters } from '../../src/metrics/counters'
import { MemoryStore } from '../../src/store/memory'
import type { Store } from '../../src/store/types'
import { ManualClock, ManualTicker } from '../support/clock'

/** A store whose contents can be lost at once, the way FLUSHALL loses a Redis's. */
function losableStore(): { store: Store; lose(): void } {
  let current = new MemoryStore({ stageCapacity: 10 })
  const store = new Proxy({} as Store, {
    get(_, key) {
      const value = (current as unknown as Record<PropertyKey, unknown>)[key]
      return typeof value === 'function' ? value.bind(current) : value
    },
  })
  return { store, lose: () => void (current = new MemoryStore({ stageCapacity: 10 })) }
}

interface Logged {
  level: string
  msg: string
  fields: Record<string, unknown>
}

function fleet(options: { masterStageArn?: string; provider?: LocalStageProvider; store?: ReturnType<typeof losableStore>; instance?: string } = {}) {
  const lines: Logged[] = []
  const logger: Logger = createLogger('debug', {}, (line) => {
    const { level, msg, time: _, ...fields } = JSON.parse(line)
    lines.push({ level, msg, fields })
  })
  const clock = new ManualClock()
  const sleep = async () => {}
  const provider = options.provider ?? new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
  const { store, lose } = options.store ?? losableStore()
  const instance = options.instance ?? 'i-1'
  const lock = new CreateLock(
    { store, clock, sleep, ticker: new ManualTicker(), logger },
    { instanceId: instance, spacingMs: 0, leaseMs: 3_000, renewMs: 1_000, pollMs: 10, maxWaitMs: 100 },
  )
  const stages = new StageService(
    { store, provider, lock, events: { publish: async () => {} }, counters: new Counters(), clock, logger },
    { fleetId: 'fl', maxStages: 5, masterStageArn: options.masterStageArn ?? null },
  )
  const lease = new LeaderLease({ store, clock, logger }, instance, 10_000)
  const loop = new FleetLoop(
    {
      stages,
      viewers: { sweepSilent: async () => 0 },
      relays: { expireSilent: async () => [], probePublisher: async () => null },
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
  return { store, lose, provider, stages, loop, lease, lines }
}

describe('the store lost the fleet records (memory store)', () => {
  test('the master is "not available" with the reason until the next leader tick puts it back, with the tagged stages; newcomers kept', async () => {
    const f = fleet()
    const master = await f.stages.start()
    const second = await f.stages.create({ name: 'second' })
    const untagged = await f.provider.createStage({ name: 'not ours', tags: {} })
    await f.loop.tick()
    expect(f.lease.isLeader).toBe(true)

    f.lose()
    await expect(f.stages.master()).rejects.toThrow('the master stage is not available: the store has lost its record')
    // A viewer arriving now gets a stage of its own (the request path makes room), before the leader acts.
    expect((await f.stages.makeRoom()).ok).toBe(true)
    const newcomer = (await f.store.listStages())[0]!
    expect(newcomer.isMaster).toBe(false)

    await f.loop.tick()
    expect((await f.stages.master()).arn).toBe(master.arn)
    const listed = await f.store.listStages()
    expect(listed.filter((s) => s.isMaster).map((s) => s.arn)).toEqual([master.arn])
    expect(listed.map((s) => s.arn).sort()).toEqual([master.arn, second.arn, newcomer.arn].sort())
    expect(listed.map((s) => s.arn)).not.toContain(untagged.arn)
    const restored = f.lines.find((l) => l.msg === 'fleet records restored: the store had lost the master stage')
    expect(restored).toMatchObject({ level: 'warn', fields: { masterStageArn: master.arn, adopted: [second.arn] } })

    // Nothing missing: later ticks restore nothing.
    await f.loop.tick()
    expect(f.lines.filter((l) => l.msg.startsWith('fleet records restored')).length).toBe(1)
  })

  test('MASTER_STAGE_ARN comes back as the master, whatever this instance remembered', async () => {
    const provider = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const configured = await provider.createStage({ name: 'operator-made', tags: {} })
    const f = fleet({ provider, masterStageArn: configured.arn })
    expect((await f.stages.start()).arn).toBe(configured.arn)
    f.lose()
    await f.loop.tick()
    expect((await f.stages.master()).arn).toBe(configured.arn)
    expect((await f.store.listStages()).map((s) => [s.arn, s.isMaster])).toEqual([[configured.arn, true]])
  })

  test("an instance starting on the emptied store finds the fleet's tagged master at the provider instead of making another", async () => {
    const shared = losableStore()
    const provider = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const a = fleet({ provider, store: shared, instance: 'a' })
    const master = await a.stages.start()
    shared.lose()
    // B knows no master at all: its (re)start looks at the provider.
    const b = fleet({ provider, store: shared, instance: 'b' })
    expect((await b.stages.start()).arn).toBe(master.arn)
    expect((await provider.listStages({ tags: { [FLEET_TAG]: 'fl' } })).length).toBe(1)
    expect((await a.stages.master()).arn).toBe(master.arn)
  })

  test('an instance that has not started leaves it to its start-up: no restore from its loop', async () => {
    const a = fleet()
    await a.loop.tick()
    expect(a.lease.isLeader).toBe(true)
    expect(await a.store.listStages()).toEqual([])
    expect(a.lines.some((l) => l.msg.startsWith('fleet records restored'))).toBe(false)
  })

  test('the master is gone at the provider too: a new one is made, and every instance serves it', async () => {
    const shared = losableStore()
    const provider = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const a = fleet({ provider, store: shared, instance: 'a' })
    const b = fleet({ provider, store: shared, instance: 'b' })
    const old = await a.stages.start()
    expect((await b.stages.start()).arn).toBe(old.arn)
    await a.loop.tick()
    shared.lose()
    await provider.deleteStage(old.arn)
    await b.loop.tick() // the lease went with the store: whoever ticks first leads
    const fresh = await b.stages.master()
    expect(fresh.arn).not.toBe(old.arn)
    // A remembered the old ARN: it must not keep answering 503.
    expect((await a.stages.master()).arn).toBe(fresh.arn)
  })

  test('a follower does not restore: only the lease holder acts', async () => {
    const shared = losableStore()
    const provider = new LocalStageProvider({ region: 'us-east-1', whipUrl: 'https://whip.example' })
    const a = fleet({ provider, store: shared, instance: 'a' })
    const b = fleet({ provider, store: shared, instance: 'b' })
    await a.stages.start()
    await b.stages.start()
    shared.lose()
    await a.loop.tick()
    await b.loop.tick()
    expect([a.lease.isLeader, b.lease.isLeader]).toEqual([true, false])
    expect(b.lines.some((l) => l.msg.startsWith('fleet records restored'))).toBe(false)
    expect(a.lines.some((l) => l.msg.startsWith('fleet records restored'))).toBe(true)
  })
})
