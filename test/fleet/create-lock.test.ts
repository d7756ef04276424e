import { describe, expect, test } from 'bun:test'
import { AppError } from '../../src/errors'
import { CreateLock } from '../../src/fleet/create-lock'
import { MemoryStore } from '../../src/store/memory'
import { ManualClock } from '../support/clock'
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
  const settings = { instanceId: 'i-1', spacingMs: 250, leaseMs: 30_000, pollMs: 50, maxWaitMs: 500 }

  test('a creation holds the lock at least spacingMs: the rest is slept, on the injected clock', async () => {
    const clock = new ManualClock()
    const slept: number[] = []
    const lock = new CreateLock({ store: new MemoryStore(), clock, sleep: async (ms) => void slept.push(ms) }, settings)
    expect(await lock.tryRun(async () => clock.advance(100))).toBe(true)
    expect(slept).toEqual([150])
    expect(await lock.tryRun(async () => clock.advance(400))).toBe(true)
    expect(slept).toEqual([150]) // a slow creation needs no extra wait
  })

  test('run waits for a busy lock in pollMs steps and gives up after maxWaitMs with 503', async () => {
    const clock = new ManualClock()
    const store = new MemoryStore()
    const slept: number[] = []
    const lock = new CreateLock({ store, clock, sleep: async (ms) => void (slept.push(ms), clock.advance(ms)) }, settings)
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
      { store, clock, sleep: async () => void (++polls === 3 && (await store.releaseLease('stage-create', 'someone-else'))) },
      { ...settings, spacingMs: 0 },
    )
    expect(await lock.run(async () => 'created')).toBe('created')
    expect(polls).toBe(3)
  })
})
