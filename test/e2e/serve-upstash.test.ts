import { afterAll, describe, expect, test } from 'bun:test'
import { luaScripts, type ScriptName } from '../../src/store/lua'
import { DEFAULT_WATCH_HISTORY_TTL_MS } from '../../src/store/types'
import { until } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { freshServer } from '../support/serve'
import { startUpstashStack, type UpstashServer, type UpstashStack } from '../support/upstash-server'

let stack: UpstashStack
let rest: UpstashServer
let n = 0
beforeAllOrFail(async () => {
  stack = await startUpstashStack()
  rest = stack.rest
})
afterAll(async () => {
  await stack?.stop()
})

/** A server of its own for each test, on its own key prefix: an empty store on the shared Redis. */
const upstashServer = () => freshServer({ UPSTASH_REDIS_REST_URL: rest.url, UPSTASH_REDIS_REST_TOKEN: rest.token, REDIS_KEY_PREFIX: `api${++n}:` })

describe('serve on the Upstash store', () => {
  test('tokens, presence and stats go through the shared store', async () => {
    await using server = await upstashServer()
    expect(server.store.kind).toBe('upstash')
    const res = await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'viewer-456' } })
    expect(res.status).toBe(200)
    const { data } = await res.json()
    const hb = await server.api('/api/viewer/heartbeat', { method: 'POST', json: { userId: 'viewer-456', stageArn: data.stageArn } })
    expect(hb.status).toBe(200)
    const stats = (await (await server.api('/api/stats')).json()).data
    expect(stats.totalViewers).toBe(1)
    const health = (await (await fetch(`${server.url}/health/ready`)).json()).data
    expect(health.checks.store).toMatchObject({ ok: true, kind: 'upstash' })
  })

  test('heartbeats arriving together are written in one pipeline, not one REST call each', async () => {
    await using server = await upstashServer()
    const seated = []
    for (let i = 0; i < 200; i++) seated.push((await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: `hb-${i}` } })).json()).data)
    rest.resetCounts()
    const statuses = await Promise.all(
      seated.map((t, i) => server.api('/api/viewer/heartbeat', { method: 'POST', json: { userId: `hb-${i}`, stageArn: t.stageArn } }).then((r) => r.status)),
    )
    expect(statuses.every((s) => s === 200)).toBe(true)
    // 200 heartbeats are written by the heartbeat script once (or twice, if a window ends in the
    // burst), and the fleet-wide rate limit counts them in batches, not one store call each.
    const lua = luaScripts(DEFAULT_WATCH_HISTORY_TTL_MS)
    const sha = (name: ScriptName) => new Bun.CryptoHasher('sha1').update(lua[name]).digest('hex')
    const heartbeatCalls = rest.scriptCalls.get(sha('heartbeat')) ?? 0
    const rateCalls = rest.scriptCalls.get(sha('countHits')) ?? 0
    console.log(`200 heartbeats → ${rest.requests} REST calls: heartbeat script ${heartbeatCalls}×, rate-limit counting ${rateCalls}×`)
    expect(heartbeatCalls).toBeGreaterThanOrEqual(1)
    expect(heartbeatCalls).toBeLessThanOrEqual(2)
    expect(rateCalls).toBeLessThanOrEqual(40)
    expect(rest.requests).toBeLessThanOrEqual(50)
  })

  for (const mode of ['refuse', 'hang'] as const)
    test(`store down (${mode}): 503 UPSTREAM_UNAVAILABLE within 2 s, ready reports it; back: works again without a restart`, async () => {
      await using server = await upstashServer()
      await rest.pause(mode)
      try {
        const started = performance.now()
        const res = await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'viewer-during-outage' } })
        const elapsed = performance.now() - started
        expect(res.status).toBe(503)
        const body = await res.json()
        expect(body.error.code).toBe('UPSTREAM_UNAVAILABLE')
        expect(JSON.stringify(body)).not.toContain(rest.token)
        expect(elapsed).toBeLessThan(2_000)
        console.log(`store outage (${mode}) answered in ${elapsed.toFixed(0)} ms`)

        // Health results are reused for up to 2 s (so probes cannot be turned into upstream calls).
        const ready = await until(
          'readiness 503',
          async () => {
            const answer = await fetch(`${server.url}/health/ready`)
            return answer.status === 503 && answer
          },
          3_000,
          100,
        )
        expect(ready.status).toBe(503)
        const readyBody = await ready.json()
        expect(readyBody.error.code).toBe('UPSTREAM_UNAVAILABLE')
        expect(readyBody.error.details.checks.store.ok).toBe(false)
        expect((await fetch(`${server.url}/health/live`)).status).toBe(200)
      } finally {
        await rest.resume()
      }
      const again = await server.api('/api/token/viewer', { method: 'POST', json: { userId: `viewer-after-${mode}` } })
      expect(again.status).toBe(200)
      const back = await until(
        'readiness 200 again',
        async () => {
          const answer = await fetch(`${server.url}/health/ready`)
          return answer.status === 200 && answer
        },
        3_000,
        100,
      )
      expect(back.status).toBe(200)
    })
})
