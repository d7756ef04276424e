import { describe, expect, test } from 'bun:test'
import { HeartbeatBatcher } from '../../src/fleet/heartbeats'
import { MemoryStore } from '../../src/store/memory'
import type { HeartbeatEntry, HeartbeatOutcome } from '../../src/store/types'
import { stageRecord } from '../store/suite'
import { ManualClock } from '../support/clock'

/** The memory store, recording the size of each heartbeat write (one entry per store round trip). */
class CountingStore extends MemoryStore {
  readonly writes: number[] = []
  failNext: Error | null = null

  override async heartbeat(entries: HeartbeatEntry[], now: number): Promise<HeartbeatOutcome[]> {
    this.writes.push(entries.length)
    if (this.failNext) {
      const error = this.failNext
      this.failNext = null
      throw error
    }
    return super.heartbeat(entries, now)
  }
}

/** Two stages (the second draining) and viewers seated on them. */
async function fleet() {
  const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
  const store = new CountingStore({ stageCapacity: 10 })
  const active = stageRecord(0)
  const draining = stageRecord(1)
  await store.addStage(active, 5)
  await store.addStage(draining, 5)
  const seat = async (userId: string, arn: string) => {
    const r = await store.assignViewer({ userId, participantId: `p-${userId}`, now: clock.now(), exclude: arn === active.arn ? [draining.arn] : [active.arn] })
    if (!r.ok || r.stage.arn !== arn) throw new Error(`could not seat ${userId}`)
  }
  for (let i = 0; i < 6; i++) await seat(`a${i}`, active.arn)
  await seat('d0', draining.arn)
  await store.updateStage(draining.arn, { status: 'draining', drainingSince: clock.now() })
  const lastSeen = async (userId: string) => (await store.findViewer(userId))?.lastHeartbeatAt
  return { clock, store, active: active.arn, draining: draining.arn, lastSeen }
}

describe('HeartbeatBatcher', () => {
  test('heartbeats within the window are one store write, each with its own outcome, at the time of the write', async () => {
    const { clock, store, active, draining, lastSeen } = await fleet()
    const joinedAt = clock.now()
    const batcher = new HeartbeatBatcher({ store, clock }, { windowMs: 100, maxBatch: 100 })
    const outcomes = Promise.all([
      batcher.submit({ userId: 'a0', stageArn: active }),
      batcher.submit({ userId: 'd0', stageArn: draining }),
      batcher.submit({ userId: 'a1', stageArn: draining }), // present, but on another stage
      batcher.submit({ userId: 'ghost', stageArn: active }),
      batcher.submit({ userId: 'a2', stageArn: active }),
    ])
    await Bun.sleep(0)
    expect(store.writes).toEqual([]) // nothing before the window ends
    clock.advance(30_000)
    expect(await outcomes).toEqual(['ok', 'draining', 'unknown', 'unknown', 'ok'])
    expect(store.writes).toEqual([5])
    expect([await lastSeen('a0'), await lastSeen('d0'), await lastSeen('a2')]).toEqual([joinedAt + 30_000, joinedAt + 30_000, joinedAt + 30_000])
    expect(await lastSeen('a1')).toBe(joinedAt) // its heartbeat named the wrong stage: not refreshed
    expect(await lastSeen('a3')).toBe(joinedAt) // no heartbeat sent
  })

  test('maxBatch splits a burst: full batches go at once, the rest when the window ends', async () => {
    const { clock, store, active } = await fleet()
    const batcher = new HeartbeatBatcher({ store, clock }, { windowMs: 100, maxBatch: 2 })
    const outcomes = Promise.all(['a0', 'a1', 'a2', 'a3', 'a4'].map((userId) => batcher.submit({ userId, stageArn: active })))
    await Bun.sleep(0)
    expect(store.writes).toEqual([2, 2])
    expect(await outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    expect(store.writes).toEqual([2, 2, 1])
  })

  test('a window of 0 writes each heartbeat by itself, at once', async () => {
    const { clock, store, active, draining } = await fleet()
    const batcher = new HeartbeatBatcher({ store, clock }, { windowMs: 0, maxBatch: 100 })
    expect(await batcher.submit({ userId: 'a0', stageArn: active })).toBe('ok')
    expect(await batcher.submit({ userId: 'd0', stageArn: draining })).toBe('draining')
    expect(await batcher.submit({ userId: 'nobody', stageArn: active })).toBe('unknown')
    expect(store.writes).toEqual([1, 1, 1])
  })

  test('a failed write fails every heartbeat of its batch, and only those; the next batch is written', async () => {
    const { clock, store, active } = await fleet()
    const batcher = new HeartbeatBatcher({ store, clock }, { windowMs: 20, maxBatch: 100 })
    store.failNext = new Error('store down')
    const failed = await Promise.allSettled([batcher.submit({ userId: 'a0', stageArn: active }), batcher.submit({ userId: 'a1', stageArn: active })])
    expect(failed.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : r.value))).toEqual(['store down', 'store down'])
    expect(await batcher.submit({ userId: 'a0', stageArn: active })).toBe('ok')
    expect(store.writes).toEqual([2, 1])
  })

  test('flush (shutdown) writes what is pending at once, without waiting for the window; nothing pending, no write', async () => {
    const { clock, store, active, lastSeen } = await fleet()
    const batcher = new HeartbeatBatcher({ store, clock }, { windowMs: 60_000, maxBatch: 100 })
    const pending = Promise.all([batcher.submit({ userId: 'a0', stageArn: active }), batcher.submit({ userId: 'a1', stageArn: active })])
    clock.advance(1_000)
    await batcher.flush()
    expect(await pending).toEqual(['ok', 'ok'])
    expect(await lastSeen('a0')).toBe(clock.now())
    await batcher.flush()
    expect(store.writes).toEqual([2])
  })
})
