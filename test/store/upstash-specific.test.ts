import { afterAll, describe, expect, test } from 'bun:test'
import { RedisClient } from 'bun'
import { AppError } from '../../src/errors'
import { silentLogger } from '../../src/log'
import { UpstashStore } from '../../src/store/upstash'
import { beforeAllOrFail } from '../support/hooks'
import { startUpstashStack, type UpstashServer, type UpstashStack } from '../support/upstash-server'
import { stageRecord } from './suite'

let stack: UpstashStack
let rest: UpstashServer
let n = 0
const T0 = Date.UTC(2026, 10, 23, 12)
beforeAllOrFail(async () => {
  stack = await startUpstashStack()
  rest = stack.rest
})
afterAll(async () => {
  await stack?.stop()
})
const newStore = (prefix = `u${++n}:`) => new UpstashStore({ url: rest.url, token: rest.token, prefix, logger: silentLogger, stageCapacity: 50 })

describe('upstash store specifics', () => {
  test('several instances assigning in parallel never exceed capacity', async () => {
    const prefix = `multi${++n}:`
    const instances = [newStore(prefix), newStore(prefix), newStore(prefix)]
    for (let seq = 0; seq < 4; seq++) await instances[0]!.addStage(stageRecord(seq), 10)
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => instances[i % 3]!.assignViewer({ userId: `v${i}`, participantId: `p${i}`, now: T0 })),
    )
    expect(results.filter((r) => r.ok).length).toBe(200)
    const stages = await instances[1]!.listStages()
    expect(stages.map((s) => s.viewerCount)).toEqual([50, 50, 50, 50])
  })

  test('an atomic operation is one REST call; a batch of heartbeats is one script in one call', async () => {
    const store = newStore()
    const stage = stageRecord(0)
    await store.loadScripts()
    await store.addStage(stage, 10)
    rest.resetCounts()
    await store.assignViewer({ userId: 'a', participantId: 'p', now: T0 })
    expect(rest.requests).toBe(1)
    rest.resetCounts()
    const entries = Array.from({ length: 500 }, () => ({ userId: 'a', stageArn: stage.arn }))
    const outcomes = await store.heartbeat(entries, T0 + 1)
    expect(outcomes.length).toBe(500)
    expect(rest.requests).toBe(1)
    expect(rest.counts.commands).toBe(1)
  })

  test('scripts are reloaded after the server forgets them (NOSCRIPT)', async () => {
    const store = newStore()
    await store.addStage(stageRecord(0), 10)
    const admin = new RedisClient(stack.redis.url)
    await admin.send('SCRIPT', ['FLUSH'])
    expect((await store.listStages()).length).toBe(1)
    admin.close()
  })

  test('an unreachable store fails fast with UPSTREAM_UNAVAILABLE and recovers without a restart', async () => {
    const store = newStore()
    await store.addStage(stageRecord(0), 10)
    await rest.pause()
    try {
      const started = performance.now()
      const error = await store.listStages().then(
        () => null,
        (e: unknown) => e,
      )
      const elapsed = performance.now() - started
      expect(error).toBeInstanceOf(AppError)
      expect((error as AppError).code).toBe('UPSTREAM_UNAVAILABLE')
      expect(elapsed).toBeLessThan(2_000)
      await expect(store.ping()).rejects.toThrow('not reachable')
    } finally {
      await rest.resume()
    }
    expect((await store.listStages()).length).toBe(1)
  })
})

test('watch history expires after the retention', async () => {
  const store = new UpstashStore({ url: rest.url, token: rest.token, prefix: `ret${++n}:`, logger: silentLogger, historyRetentionMs: 150 })
  const stage = stageRecord(0)
  await store.addStage(stage, 10)
  await store.assignViewer({ userId: 'gone', participantId: 'p', now: T0 })
  await store.leaveViewer('gone', stage.arn, T0 + 5_000)
  expect((await store.viewerDuration('gone', null, T0 + 6_000)).totalMs).toBe(5_000)
  await Bun.sleep(300)
  expect(await store.viewerDuration('gone', null, T0 + 6_000)).toEqual({ userId: 'gone', totalMs: 0, sessions: [] })
})
