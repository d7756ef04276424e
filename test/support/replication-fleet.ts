import type { Sleep } from '../../src/clock'
import type { EventPublisher } from '../../src/fleet/events'
import { ReplicationService, type ReplicationServiceDeps } from '../../src/fleet/replication'
import type { FanoutMode, ReplicationSettings, StoreLockSettings } from '../../src/fleet/settings'
import { FANOUT_LOCK, StoreLock } from '../../src/fleet/store-lock'
import { createLogger } from '../../src/log'
import { Counters } from '../../src/metrics/counters'
import { MemoryStore } from '../../src/store/memory'
import type { StageRecord } from '../../src/store/types'
import { ManualClock, type ManualSchedule, ManualTicker } from './clock'
import { FakeReplicationProvider, short } from './fake-replication'

/** The fan-out unit tests' fleet: the memory store, the fake IVS (fake-replication.ts), a manual clock. */
export const T0 = Date.UTC(2026, 10, 23, 12)
export const arn = (seq: number) => `arn:aws:ivs:us-east-1:000000000000:stage/Stage${String(seq).padStart(7, '0')}`
export const s = (seq: number) => short(arn(seq))

export const SETTINGS: Omit<ReplicationSettings, 'mode'> = {
  reconnectWindowSeconds: 30,
  intervalMs: 5_000,
  pendingIntervalMs: 2_000,
  operationsPerSecond: 2,
  retryBaseMs: 2_000,
  retryMaxMs: 30_000,
}

/** The fan-out lock as serve builds it (config/settings.ts) but polled more often: a busy lock is polled 300 times, 1 ms of real time apart. */
export const LOCK: Omit<StoreLockSettings, 'instanceId'> = { spacingMs: 0, leaseMs: 3_000, renewMs: 1_000, pollMs: 10, maxWaitMs: 3_000 }
const realMillisecond: Sleep = () => new Promise((resolve) => setTimeout(resolve, 1))

export function record(seq: number, status: StageRecord['status'] = 'active'): StageRecord {
  return {
    arn: arn(seq),
    name: `s-${seq}`,
    isMaster: seq === 0,
    status,
    seq,
    createdAt: T0 - 60_000,
    drainingSince: status === 'draining' ? T0 : null,
    tags: {},
    endpoints: { whip: 'https://whip.example', events: 'wss://events.example' },
  }
}

export interface FleetOptions {
  local?: boolean
  /** Another instance's: the same store (and IVS), its own service and lock holder. */
  store?: MemoryStore
  provider?: FakeReplicationProvider
  clock?: ManualClock
  /** What the service calls instead of the fake directly (a wrapper that holds a call back). */
  ivs?: ReplicationServiceDeps['provider']
  /** Instead of recording events (one that fails). */
  events?: EventPublisher
  /** The follow-ups' timers (a new hybrid stage asked again), run by hand. */
  schedule?: ManualSchedule
  /** What the service takes the fan-out lock through (a wrapper that holds it back: heldLock). */
  lock?: (lock: StoreLock) => ReplicationServiceDeps['lock']
}

/** A fleet of `stages` stages (the master is 0) on the memory store, a fake IVS, a manual clock. */
export async function fleet(mode: FanoutMode, stages: number, options: FleetOptions = {}) {
  const store = options.store ?? new MemoryStore({ stageCapacity: 10 })
  const provider = options.provider ?? new FakeReplicationProvider(options.local)
  const clock = options.clock ?? new ManualClock(T0)
  const counters = new Counters()
  const events: { type: string; data: Record<string, unknown> }[] = []
  const logs: Record<string, unknown>[] = []
  const logger = createLogger('debug', {}, (line) => logs.push(JSON.parse(line)))
  for (let i = 0; i < stages; i++) {
    await store.addStage(record(i), 100)
    provider.addStage(arn(i))
  }
  const recording: EventPublisher = {
    async publish(type, data) {
      events.push({ type, data })
      await store.appendEvent({ type, data })
    },
  }
  const ticker = new ManualTicker()
  const lock = new StoreLock({ store, clock, sleep: realMillisecond, ticker, logger }, { ...LOCK, instanceId: `i-${Math.random()}` }, FANOUT_LOCK)
  const service = new ReplicationService(
    {
      store,
      provider: options.ivs ?? provider,
      events: options.events ?? recording,
      counters,
      clock,
      logger,
      lock: options.lock ? options.lock(lock) : lock,
      schedule: options.schedule?.schedule,
    },
    { mode, ...SETTINGS },
  )
  const count = (name: string, dims: Record<string, string> = {}) =>
    counters
      .snapshot()
      .filter((c) => c.name === name && Object.entries(dims).every(([k, v]) => c.dimensions[k] === v))
      .reduce((sum, c) => sum + c.value, 0)
  const feeds = async () => {
    const view = await store.fanout.get()
    return Object.fromEntries(
      Object.entries(view?.feeds ?? {}).map(([k, f]) => [short(k), f.kind === 'replica' ? `replica of ${short(f.originStageArn!)}` : f.kind]),
    )
  }
  const eventsOf = (type: string) => events.filter((e) => e.type === type).map((e) => e.data)
  /** A stage deleted as StageService does: the hook, DeleteStage and the record's removal under it (`before`: what DeleteStage waits for). */
  const deleteStage = async (target: string, before: () => Promise<unknown> = async () => {}) => {
    let removed = false
    const remove = async () => {
      await before()
      removed = true
      provider.deleteStage(target)
      await store.removeStage(target, clock.now())
    }
    await service.stageDeleting(target, remove)
    // Before the fan-out hook deleted the stage itself, StageService deleted it after the hook.
    if (!removed) await remove()
  }
  return { store, provider, clock, counters, events, logs, ticker, lock, service, count, feeds, eventsOf, deleteStage }
}

export type Fleet = Awaited<ReturnType<typeof fleet>>

/** The relay publishing into stage `seq` as participant `id` (its userId `relay-r1`). */
export const relayIn = (f: Fleet, seq: number, id = `relay-r1-in-${seq}`) => f.provider.publish(arn(seq), id, 'relay-r1')

/**
 * The fake IVS as one instance sees it: once `hold` is called, the next participants() read (or the
 * one after `skip` more) waits (`reached` resolves when it does) until `open`.
 */
export function heldIvs(provider: FakeReplicationProvider) {
  let gate: Promise<void> | null = null
  let skipping = 0
  let open = () => {}
  let reach = () => {}
  const ivs: ReplicationServiceDeps['provider'] = {
    participants: async (stageArn) => {
      if (gate && skipping > 0) skipping--
      else if (gate) {
        const wait = gate
        gate = null
        reach()
        await wait
      }
      return provider.participants(stageArn)
    },
    startReplication: (request) => provider.startReplication(request),
    stopReplication: (request) => provider.stopReplication(request),
    listReplicas: (stageArn, participantId) => provider.listReplicas(stageArn, participantId),
  }
  const hold = (skip = 0) => {
    skipping = skip
    gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const reached = new Promise<void>((resolve) => {
      reach = resolve
    })
    return { reached, open: () => open() }
  }
  return { ivs, hold }
}

/**
 * The fan-out lock as one instance takes it: once `hold` is called, its next attempt to take the lock
 * waits (`reached` resolves when it does: a round has made its IVS reads) until `open`.
 */
export function heldLock() {
  let gate: Promise<void> | null = null
  let open = () => {}
  let reach = () => {}
  const wrap = (lock: StoreLock): ReplicationServiceDeps['lock'] => ({
    waitFor: async (task, waitMs) => {
      if (gate) {
        const wait = gate
        gate = null
        reach()
        await wait
      }
      return lock.waitFor(task, waitMs)
    },
  })
  const hold = () => {
    gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const reached = new Promise<void>((resolve) => {
      reach = resolve
    })
    return { reached, open: () => open() }
  }
  return { wrap, hold }
}
