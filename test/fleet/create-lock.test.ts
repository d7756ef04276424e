import { expect, test } from 'bun:test'
import { startTestServer } from '../support/serve'

test('the creation lock excludes the same instance too: two creations at once make one stage', async () => {
  const server = await startTestServer({ STAGE_CAPACITY: '10', SCALE_UP_THRESHOLD: '8', SCALE_DOWN_THRESHOLD: '2' })
  try {
    const before = (await server.store.listStages()).length
    const results = await Promise.all([server.fleet.createStageAhead(), server.fleet.createStageAhead()])
    expect(results.sort()).toEqual([false, true])
    expect((await server.store.listStages()).length).toBe(before + 1)
  } finally {
    await server.stop()
  }
})

test('a burst that needs many new stages waits for them instead of failing early', async () => {
  const server = await startTestServer({ STAGE_CAPACITY: '1', SCALE_UP_THRESHOLD: '1', SCALE_DOWN_THRESHOLD: '0', MAX_STAGES: '30' })
  try {
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => server.api('/api/token/viewer', { method: 'POST', json: { userId: `b${i}` } }).then((r) => r.status)))
    expect(statuses.filter((s) => s !== 200)).toEqual([])
    const stages = await server.store.listStages()
    expect(stages.every((s) => s.viewerCount <= 1)).toBe(true)
    expect(stages.length).toBeGreaterThanOrEqual(20)
    expect(stages.length).toBeLessThanOrEqual(21)
  } finally {
    await server.stop()
  }
}, 30_000)
