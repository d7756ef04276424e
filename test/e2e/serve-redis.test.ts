/**
 * `serve` as a process on native Redis, configured the way the original API server's `.env` does
 * (REDIS_HOST, REDIS_PORT, REDIS_TLS, REDIS_PASSWORD), in the three shapes operators run:
 * standalone, TLS with a password, and a cluster. Also the configuration errors (exit 2) and a
 * Redis that is not there yet (the process stays up and serves once it is).
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { Redis } from 'ioredis'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from '../support/process'
import { makeTlsFiles, type RedisCluster, type RedisServer, startRedis, startRedisCluster, type TlsFiles } from '../support/redis'
import { startTestServer } from '../support/serve'
import { startTcpProxy } from '../support/tcp-proxy'

const API_KEY = 'serve-redis-api-key-0123456789'
const PASSWORD = 'elasticache-auth-token-0123'
let plain: RedisServer
let secured: RedisServer
let cluster: RedisCluster
let tls: TlsFiles
const running: Spawned[] = []
let n = 0

beforeAllOrFail(async () => {
  tls = await makeTlsFiles()
  ;[plain, secured, cluster] = await Promise.all([startRedis(), startRedis({ tls, password: PASSWORD }), startRedisCluster()])
}, 60_000)
afterEach(() => {
  for (const p of running.splice(0)) if (p.proc.exitCode === null) p.kill('SIGKILL')
})
afterAll(async () => {
  await Promise.all([plain?.stop(), secured?.stop(), cluster?.stop()])
})

async function serve(env: Record<string, string>) {
  const port = await freePort()
  const p = spawnProcess(
    [BUN, 'run', 'src/main.ts', 'serve'],
    bareEnv({ API_PORT: String(port), API_SECRET_KEY: API_KEY, REDIS_KEY_PREFIX: `sr${++n}:`, ...env }),
  )
  running.push(p)
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', ...init.headers } })
  return { p, port, api, prefix: `sr${n}:` }
}

describe('serve on native Redis, configured as the original deployment', () => {
  const shapes: [string, () => Record<string, string>, RegExp][] = [
    ['standalone', () => ({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(plain.port) }), /^redis 127\.0\.0\.1:\d+ \(standalone, plain\)$/],
    // The original .env has no CA file: its CA is trusted by the system, which NODE_EXTRA_CA_CERTS stands in for here.
    [
      'TLS + password',
      () => ({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(secured.port), REDIS_TLS: 'true', REDIS_PASSWORD: PASSWORD, NODE_EXTRA_CA_CERTS: tls.caCert }),
      /\(standalone, TLS, AUTH\)$/,
    ],
    ['cluster (detected, no REDIS_CLUSTER)', () => ({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(cluster.port) }), /\(cluster, plain\)$/],
  ]
  for (const [name, env, described] of shapes) {
    test(`${name}: serves, /health and the log name the store, state is in Redis`, async () => {
      const { p, api, prefix } = await serve(env())
      await p.waitFor(/"msg":"serving"/, 15_000)
      const health = (await (await api('/health')).json()).data
      expect(health.store).toMatch(described)
      expect(health.checks.store).toMatchObject({ ok: true, kind: 'redis' })
      expect(p.stdout()).toContain('"store":"redis 127.0.0.1:')
      expect(p.stdout()).not.toContain(PASSWORD)
      expect((await api('/api/token/viewer', { method: 'POST', body: JSON.stringify({ userId: 'v1' }) })).status).toBe(200)
      expect((await api('/api/token/publisher', { method: 'POST', body: JSON.stringify({ userId: 'pub' }) })).status).toBe(200)
      // The seat is in Redis itself, under the prefix made a hash tag.
      const node = name.startsWith('cluster') ? cluster.nodes : [name === 'standalone' ? plain : secured]
      let presence = 0
      for (const server of node) {
        const client = new Redis({
          port: server.port,
          password: server.password ?? undefined,
          tls: server.tls ? { ca: await Bun.file(tls.caCert).text() } : undefined,
        })
        presence += await client.hlen(`{${prefix}}presence`).catch(() => 0)
        client.disconnect()
      }
      expect(presence).toBe(1)
    }, 30_000)
  }
})

describe('configuration errors exit 2 naming Redis; an absent Redis does not', () => {
  test('wrong password: exit 2, the message names Redis and REDIS_PASSWORD, never the password', async () => {
    const { p } = await serve({
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(secured.port),
      REDIS_TLS: 'true',
      REDIS_PASSWORD: 'not-the-password-9',
      REDIS_TLS_CA_FILE: tls.caCert,
    })
    expect(await p.proc.exited).toBe(2)
    expect(p.stderr()).toMatch(/Redis at 127\.0\.0\.1:\d+ refused our credentials.*REDIS_PASSWORD/)
    expect(p.stderr() + p.stdout()).not.toContain('not-the-password-9')
  }, 20_000)

  test('TLS against a plain port: exit 2 naming REDIS_TLS', async () => {
    const { p } = await serve({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(plain.port), REDIS_TLS: 'true' })
    expect(await p.proc.exited).toBe(2)
    expect(p.stderr()).toMatch(/TLS to Redis at 127\.0\.0\.1:\d+ failed.*REDIS_TLS/)
  }, 20_000)

  test('both stores configured: exit 2 naming both', async () => {
    const { p } = await serve({ REDIS_HOST: '127.0.0.1', UPSTASH_REDIS_REST_URL: 'https://example.upstash.io', UPSTASH_REDIS_REST_TOKEN: 'token' })
    expect(await p.proc.exited).toBe(2)
    expect(p.stderr()).toContain('REDIS_HOST')
    expect(p.stderr()).toContain('UPSTASH_REDIS_REST_URL')
  })

  test('Redis not there at start: live 200, ready 503 with the reason, API 503 fast; Redis appears → serving without a restart', async () => {
    const redisPort = await freePort()
    const { p, api } = await serve({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redisPort) })
    await p.waitFor(/"msg":"serving"/, 15_000)
    expect((await api('/health/live')).status).toBe(200)
    const ready = await api('/health/ready')
    expect(ready.status).toBe(503)
    const reason = JSON.stringify((await ready.json()).error.details.checks)
    expect(reason).toMatch(new RegExp(`Redis at 127\\.0\\.0\\.1:${redisPort}.*not reachable`))
    const started = performance.now()
    const token = await api('/api/token/viewer', { method: 'POST', body: JSON.stringify({ userId: 'early' }) })
    expect(token.status).toBe(503)
    expect((await token.json()).error.code).toBe('UPSTREAM_UNAVAILABLE')
    expect(performance.now() - started).toBeLessThan(2_000)

    const late = await startRedis({ port: redisPort })
    try {
      await p.waitFor(/"msg":"fleet started"/, 20_000)
      // The readiness answer is reused for 2 s: allow for one stale answer.
      await eventually('ready', async () => (await api('/health/ready')).status === 200, 5_000, 250)
      expect((await api('/health/ready')).status).toBe(200)
      expect((await api('/api/token/viewer', { method: 'POST', body: JSON.stringify({ userId: 'late' }) })).status).toBe(200)
      expect((await api('/api/token/publisher', { method: 'POST', body: JSON.stringify({ userId: 'pub' }) })).status).toBe(200)
    } finally {
      await late.stop()
    }
  }, 40_000)

  test('Redis lost while serving (refused, then hanging): API 503 within 2 s, ready 503; back → 200 without a restart, seats kept', async () => {
    const proxy = await startTcpProxy(plain.port)
    const server = await startTestServer({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(proxy.port), REDIS_KEY_PREFIX: `out${++n}:`, API_SECRET_KEY: API_KEY })
    try {
      const token = (body: object) => server.api('/api/token/viewer', { method: 'POST', json: body })
      expect((await token({ userId: 'before' })).status).toBe(200)
      for (const outage of ['refused', 'hanging'] as const) {
        if (outage === 'refused') proxy.refuse()
        else plain.pause()
        try {
          const started = performance.now()
          const res = await token({ userId: `during-${outage}` })
          expect([outage, res.status]).toEqual([outage, 503])
          expect((await res.json()).error.code).toBe('UPSTREAM_UNAVAILABLE')
          expect(performance.now() - started).toBeLessThan(2_000)
          expect((await fetch(`${server.url}/health/ready`)).status).toBe(503)
        } finally {
          if (outage === 'refused') proxy.restore()
          else plain.resume()
        }
        let status = 0
        await eventually(`a token after the ${outage} outage`, async () => (status = (await token({ userId: `after-${outage}` })).status) === 200, 10_000, 100)
        expect([outage, status]).toEqual([outage, 200])
      }
      const seated = async (userId: string) =>
        ((await (await server.api(`/api/viewer/duration?userId=${userId}`)).json()).data.sessions as { active: boolean }[]).filter((x) => x.active).length
      // Acknowledged seats survived both outages; a refused request was never sent, so it took nothing.
      for (const userId of ['before', 'after-refused', 'after-hanging']) expect([userId, await seated(userId)]).toEqual([userId, 1])
      expect(await seated('during-refused')).toBe(0)
      // A request that hung may have reached Redis before its 503 (its outcome is unknown to the
      // caller): at most its own one seat, which the caller's retry keeps rather than doubles.
      expect(await seated('during-hanging')).toBeLessThanOrEqual(1)
      expect((await token({ userId: 'during-hanging' })).status).toBe(200)
      expect(await seated('during-hanging')).toBe(1)
      const stats = (await (await server.api('/api/stats')).json()).data
      expect(stats.totalViewers).toBe(4)
    } finally {
      await server.stop()
      proxy.stop()
    }
  }, 40_000)
})
