import { expect, test } from 'bun:test'
import { MemoryStore } from '../../src/store/memory'
import { stageRecord } from './suite'

test('watch history of viewers gone longer than the retention is forgotten (memory stays bounded)', async () => {
  const T0 = Date.UTC(2026, 10, 23)
  const store = new MemoryStore({ historyRetentionMs: 60_000 })
  const stage = stageRecord(0)
  await store.addStage(stage, 10)
  await store.assignViewer({ userId: 'old', participantId: 'p', now: T0 })
  await store.leaveViewer('old', stage.arn, T0 + 1_000)
  await store.assignViewer({ userId: 'recent', participantId: 'p', now: T0 + 100_000 })
  await store.leaveViewer('recent', stage.arn, T0 + 101_000)
  await store.sweepViewers(T0 + 120_000, T0 + 120_000, 100)
  expect((await store.viewerDuration('old', null, T0 + 120_000)).totalMs).toBe(0)
  expect((await store.viewerDuration('recent', null, T0 + 120_000)).totalMs).toBe(1_000)
})
