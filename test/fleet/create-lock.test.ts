import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors'
import { CreateLock, type CreateLockDeps } from '../../src/fleet/create-lock'
import type { CreateLockSettings } from '../../src/fleet/settings'
import { createLogger, silentLogger } from '../../src/log'
import { MemoryStore } from '../../src/store/memory'
import { ManualClock, ManualTicker } from '../support/clock'
import { startTestServer } from '../support/serve'

test('the creation lock excludes the same instance too: two creations at once make one stage', async () => {
  const server = await startTestServer({ STAGE_CAPACITY: '10', SCALE_UP_THRESHOLD: '8', SCALE_DOWN_THRESHOLD: '2' })
  try {
    const before = (await server.store.listStages()).length
    const results = await Promise.all([server.stages.createAhead(), server.stages.createAhead()])
    expect(results.sort()).toEqual([false, true])
    expect((await server.store.listStages()).length).toBe(before + 1)
  } finally {
    await server.stop()
  }
})

test('a burst that needs many new stages waits for them instead of failing early', async () => {
  const server = await startTestServer({ STAGE_CAPACITY: '1', SCALE_UP_THRESHOLD: '1', SCALE_DOWN_THRESHOLD: '0', MAX_STAGES: '30' })
  try {
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => server.api('/api/token/viewer', { method: 'POST', json: { userId: `b${i}` } }).then((r) => r.status)),
    )
    expect(statuses.filter((s) => s !== 200)).toEqual([])
    const stages = await server.store.listStages()
    expect(stages.every((s) => s.viewerCount <= 1)).toBe(true)
    expect(stages.length).toBeGreaterThanOrEqual(20)
    expect(stages.length).toBeLessThanOrEqual(21)
  } finally {
    await server.stop()
  }
}, 30_000)

describe('CreateLock with an injected clock and sleep', () => {
  const settings: CreateLockSettings = { instanceId: 'i-1', spacingMs: 250, leaseMs: 3_000, renewMs: 1_000, pollMs: 50, maxWaitMs: 500 }
  const quiet = { ticker: new ManualTicker(), logger: silentLogger }

  test('a creation holds the lock at least spacingMs: the rest is slept, on the injected clock', async () => {
    const clock = new ManualClock()
    const slept: number[] = []
    const lock = new CreateLock({ store: new MemoryStore(), clock, sleep: async (ms) => void slept.push(ms), ...quiet }, settings)
    expect(await lock.tryRun(async () => clock.advance(100))).toBe(true)
    expect(slept).toEqual([150])
    expect(await lock.tryRun(async () => clock.advance(400))).toBe(true)
    expect(slept).toEqual([150]) // a slow creation needs no extra wait
  })

  test('run waits for a busy lock in pollMs steps and gives up after maxWaitMs with 503', async () => {
    const clock = new ManualClock()
    const store = new MemoryStore()
    const slept: number[] = []
    const lock = new CreateLock({ store, clock, sleep: async (ms) => void (slept.push(ms), clock.advance(ms)), ...quiet }, settings)
    expect(await store.acquireLease('stage-create', 'someone-else', 30_000, clock.now())).toBe(true)
    const error = await lock.run(async () => 'never').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).code).toBe('UPSTREAM_UNAVAILABLE')
    expect(slept.every((ms) => ms === 50)).toBe(true)
    expect(slept.length).toBe(10)
  })

  test('run takes the lock once the other holder releases it', async () => {
    const clock = new ManualClock()
    const store = new MemoryStore()
    await store.acquireLease('stage-create', 'someone-else', 30_000, clock.now())
    let polls = 0
    const lock = new CreateLock(
      { store, clock, sleep: async () => void (++polls === 3 && (await store.releaseLease('stage-create', 'someone-else'))), ...quiet },
      { ...settings, spacingMs: 0 },
    )
    expect(await lock.run(async () => 'created')).toBe('created')
    expect(polls).toBe(3)
  })
})

/** A promise resolved by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Lets pending store calls (promise callbacks) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/** A memory store whose lease calls can be held back or made to fail, like a slow or unreachable Redis. */
class GatedStore extends MemoryStore {
  gate: Promise<void> | null = null
  failNext = false
  override async acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    if (this.gate) await this.gate
    if (this.failNext) {
      this.failNext = false
      throw new AppError('UPSTREAM_UNAVAILABLE', 'the store is not reachable; retry shortly')
    }
    return super.acquireLease(name, holder, ttlMs, now)
  }
}

describe('CreateLock: a short lease, renewed by its holder while it works (issue 20 item 10)', () => {
  const settings: CreateLockSettings = { instanceId: 'i-1', spacingMs: 0, leaseMs: 3_000, renewMs: 1_000, pollMs: 50, maxWaitMs: 15_000 }

  /** Three instances' locks on one store and clock; each has its own ticker (its own process) and log. */
  function fleet(store: MemoryStore = new MemoryStore()) {
    const clock = new ManualClock()
    const instance = (instanceId: string) => {
      const ticker = new ManualTicker()
      const warnings: Record<string, unknown>[] = []
      const logger = createLogger('warn', {}, (line) => void warnings.push(JSON.parse(line)))
      const deps: CreateLockDeps = { store, clock, ticker, logger, sleep: async (ms) => clock.advance(ms) }
      return { lock: new CreateLock(deps, { ...settings, instanceId }), ticker, warnings }
    }
    return { clock, store, a: instance('a'), b: instance('b'), c: instance('c') }
  }
  const nothing = async () => {}

  test('renewed every renewMs while the creation runs: nobody takes it over, however long it takes; released at the end', async () => {
    const { clock, a, b } = fleet()
    const work = deferred()
    const running = a.lock.tryRun(() => work.promise)
    await settle()
    expect(a.ticker.intervals).toEqual([1_000])
    for (let second = 1; second <= 10; second++) {
      clock.advance(1_000)
      await a.ticker.fire()
      expect(await b.lock.tryRun(nothing)).toBe(false) // 10 s: more than three leases
    }
    work.resolve()
    expect(await running).toBe(true)
    expect(a.ticker.intervals).toEqual([]) // renewals stopped
    expect(await b.lock.tryRun(nothing)).toBe(true)
    expect(a.warnings).toEqual([])
  })

  test('a holder that dies mid-creation (no more renewals) loses the lock one lease after its last renewal: a waiter takes over then', async () => {
    const { clock, a, b } = fleet()
    void a.lock.tryRun(() => new Promise(() => {})) // a creation that never ends: its process is gone
    await settle()
    clock.advance(1_000)
    await a.ticker.fire() // the last renewal, at t+1000: the lease runs to t+4000
    const renewedAt = clock.now()
    clock.advance(500) // the holder is SIGKILLed here; its ticker never fires again
    const diedAt = clock.now()
    let ranAt = 0
    await b.lock.run(async () => {
      ranAt = clock.now()
    })
    expect(ranAt).toBe(renewedAt + settings.leaseMs)
    expect(ranAt - diedAt).toBeLessThanOrEqual(settings.leaseMs) // seconds, not a 30 s lease
  })

  test('a renewal that finds the lock taken (its holder stalled a whole lease): a warning, renewals stop, the new holder keeps it', async () => {
    const { clock, a, b, c } = fleet()
    const work = deferred()
    const running = a.lock.tryRun(() => work.promise)
    await settle()
    clock.advance(3_500) // a stalls: no renewal for longer than the lease
    const theirs = deferred()
    const taking = b.lock.tryRun(() => theirs.promise)
    await settle()
    await a.ticker.fire() // a wakes and renews: the lease is b's now
    expect(a.warnings.map((w) => [w.msg, w.sinceRenewalMs, w.leaseMs])).toEqual([
      ['stage-creation lock lost while creating: another holder took it, and a creation may run alongside this one', 3_500, 3_000],
    ])
    expect(a.ticker.intervals).toEqual([])
    work.resolve()
    expect(await running).toBe(true) // a's creation in flight finishes
    expect(await c.lock.tryRun(nothing)).toBe(false) // a did not release b's lock
    theirs.resolve()
    expect(await taking).toBe(true)
    expect(await c.lock.tryRun(nothing)).toBe(true)
  })

  test('a renewal still waiting on the store when the creation ends is awaited before the release: no lease is left behind', async () => {
    const store = new GatedStore()
    const { clock, a, b } = fleet(store)
    const work = deferred()
    const running = a.lock.tryRun(() => work.promise)
    await settle()
    const slow = deferred()
    store.gate = slow.promise
    clock.advance(1_000)
    const firing = a.ticker.fire() // the renewal waits on the store
    work.resolve()
    let done = false
    void running.then(() => {
      done = true
    })
    await settle()
    expect(done).toBe(false) // the release waits for the renewal
    store.gate = null
    slow.resolve()
    expect(await running).toBe(true)
    await firing
    expect(await b.lock.tryRun(nothing)).toBe(true) // the late renewal did not take the lease again
  })

  test('a renewal the store does not answer is retried at the next tick; the lease holds meanwhile', async () => {
    const store = new GatedStore()
    const { clock, a, b } = fleet(store)
    const work = deferred()
    const running = a.lock.tryRun(() => work.promise)
    await settle()
    store.failNext = true
    clock.advance(1_000)
    await a.ticker.fire()
    expect(a.warnings.map((w) => w.msg)).toEqual(['stage-creation lock not renewed: the store did not answer'])
    clock.advance(1_000)
    await a.ticker.fire() // renewed at t+2000: the lease runs to t+5000
    clock.advance(2_500)
    expect(await b.lock.tryRun(nothing)).toBe(false)
    work.resolve()
    expect(await running).toBe(true)
  })
})
