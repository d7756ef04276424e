/**
 * `serve` as a process whose store does not answer at start, in the shapes it takes in deployments:
 * a closed port, and a proxy or load balancer in front of a Redis that is not up yet (the TCP
 * connection is accepted, then dropped). The process must not exit (under a restart policy that is
 * a crash loop): /health/live 200, /health/ready 503 with the reason, and serving once the store
 * answers. Configuration errors still exit 2.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { eventually } from '../support/eventually'
import { BUN, bareEnv, freePort, spawnProcess } from '../support/process'
import { makeTlsFiles, type RedisServer, startRedis } from '../support/redis'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy'
import { startUpstashServer, type UpstashServer } from '../support/upstash-server'

const API_KEY = 'store-unreachable-api-key-0123'
const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo()
})

async function serve(env: Record<string, string>) {
  const port = await freePort()
  const p = spawnProcess([BUN, 'run', 'src/main.ts', 'serve'], bareEnv({ API_PORT: String(port), API_SECRET_KEY: API_KEY, ...env }))
  cleanup.push(() => {
    if (p.proc.exitCode === null) p.kill('SIGKILL')
  })
  const url = `http://127.0.0.1:${port}`
  const spawnedAt = performance.now()
  const api = (path: string, body?: unknown) =>
    fetch(url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  return { p, url, api, spawnedAt }
}

type Served = Awaited<ReturnType<typeof serve>>

/** Listening, alive, not ready: the reason names the store. */
async function expectWaitingForStore(s: Served, reason: RegExp): Promise<void> {
  await s.p.waitFor(/"msg":"serving"/, 15_000)
  expect((await s.api('/health/live')).status).toBe(200)
  console.log(`live after ${((performance.now() - s.spawnedAt) / 1000).toFixed(1)} s from spawn`)
  const ready = await s.api('/health/ready')
  expect(ready.status).toBe(503)
  const checks = (await ready.json()).error.details.checks
  expect(checks.store.ok).toBe(false)
  expect(checks.store.error).toMatch(reason)
  expect(checks.fleet.ok).toBe(false)
  const token = await s.api('/api/token/viewer', { userId: 'early' })
  expect(token.status).toBe(503)
  expect((await token.json()).error.code).toBe('UPSTREAM_UNAVAILABLE')
}

/** The store answers now: ready within a few seconds (readiness answers are reused for 2 s), and tokens are issued. */
async function expectServing(s: Served): Promise<void> {
  const storeUpAt = performance.now()
  await s.p.waitFor(/"msg":"fleet started"/, 20_000)
  await eventually('ready', async () => (await s.api('/health/ready')).status === 200, 6_000, 200)
  expect((await s.api('/health/ready')).status).toBe(200)
  console.log(`ready ${((performance.now() - storeUpAt) / 1000).toFixed(1)} s after the store came up`)
  expect((await s.api('/api/token/viewer', { userId: 'late' })).status).toBe(200)
  expect((await s.api('/api/token/publisher', { userId: 'pub' })).status).toBe(200)
  expect(s.p.proc.exitCode).toBeNull()
}

async function proxyTo(targetPort: number): Promise<TcpProxy> {
  const proxy = await startTcpProxy(targetPort)
  cleanup.push(() => proxy.stop())
  return proxy
}

async function redisOn(port: number): Promise<RedisServer> {
  const redis = await startRedis({ port })
  cleanup.push(() => redis.stop())
  return redis
}

describe('the store does not answer at start: the process waits for it', () => {
  test('Redis behind a proxy whose Redis is not up yet (accepted, then dropped): up, ready 503 with the reason, serving once Redis is', async () => {
    const redisPort = await freePort()
    const proxy = await proxyTo(redisPort)
    const s = await serve({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(proxy.port) })
    await expectWaitingForStore(s, new RegExp(`Redis at 127\\.0\\.0\\.1:${proxy.port}.*not reachable`))
    expect(proxy.accepted).toBeGreaterThan(0)
    // Several reconnection rounds against the dropping proxy: still up, still not a configuration error.
    await Bun.sleep(2_000)
    expect(s.p.proc.exitCode).toBeNull()
    expect(s.p.stderr()).not.toContain('speaks TLS')
    await redisOn(redisPort)
    await expectServing(s)
  }, 60_000)

  test('Redis refused at start, then a proxy that drops: still waiting, then serving', async () => {
    const redisPort = await freePort()
    const proxy = await proxyTo(redisPort)
    proxy.refuse()
    const s = await serve({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(proxy.port) })
    await expectWaitingForStore(s, /not reachable/)
    proxy.restore()
    await Bun.sleep(3_000)
    expect(s.p.proc.exitCode).toBeNull()
    await redisOn(redisPort)
    await expectServing(s)
  }, 60_000)

  test('Upstash URL on a closed port: up, ready 503 with the reason, serving once the REST endpoint answers', async () => {
    const restPort = await freePort()
    const token = 'upstash-token-store-unreachable'
    const s = await serve({ UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${restPort}`, UPSTASH_REDIS_REST_TOKEN: token })
    await expectWaitingForStore(s, /not reachable/)
    const redis = await startRedis()
    cleanup.push(() => redis.stop())
    const rest: UpstashServer = await startUpstashServer({ redisUrl: redis.url, token, port: restPort })
    cleanup.push(() => rest.stop())
    await expectServing(s)
  }, 60_000)
})

describe('configuration errors still exit 2', () => {
  test('a bad value in the environment', async () => {
    const { p } = await serve({ REDIS_HOST: '127.0.0.1', REDIS_PORT: 'not-a-port' })
    expect(await p.proc.exited).toBe(2)
    expect(p.stderr()).toContain('REDIS_PORT')
  })

  test('plain Redis configured against a TLS port (behind the same kind of proxy): exit 2 naming REDIS_TLS', async () => {
    const tls = await makeTlsFiles()
    const secured = await startRedis({ tls })
    cleanup.push(() => secured.stop())
    const proxy = await proxyTo(secured.port)
    const { p } = await serve({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(proxy.port) })
    expect(await p.proc.exited).toBe(2)
    expect(p.stderr()).toMatch(/speaks TLS \(in-transit encryption\): set REDIS_TLS=true/)
  }, 30_000)
})
