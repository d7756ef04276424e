import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { loadServeConfig } from '../../src/config/serve'
import { MemoryStore } from '../../src/store/memory'
import type { Store } from '../../src/store/types'
import { ManualClock, ManualTicker } from '../support/clock'
import { composeFile, renderedEnvironment } from '../support/compose-file'
import { rawRequest } from '../support/raw-http'
import { startTestServer, type TestServer } from '../support/serve'

const wrongKey = (i: number) => `wrong-key-${i}-0123456789abcdef`

describe('API-key guessing is limited per client address, whatever key is tried', () => {
  let server: TestServer
  beforeAll(async () => {
    // 127.0.0.1 is the trusted proxy here, so each test can act as its own client through X-Forwarded-For.
    server = await startTestServer({ AUTH_FAILURE_LIMIT: '5', TRUST_PROXY: '127.0.0.1', MEDIA_SERVER_SECRET: 'media-secret-0123456789' })
  })
  afterAll(() => server.stop())

  const asClient = (client: string, key: string) => server.api('/api/stats', { headers: { 'x-api-key': key, 'x-forwarded-for': client } })

  test('past the budget every try is 429 with Retry-After, even with the right key, while other clients go on', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 30; i++) statuses.push((await asClient('198.51.100.1', wrongKey(i))).status)
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]))

    const locked = await asClient('198.51.100.1', server.apiKey)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(locked.headers.get('x-request-id')).toBeTruthy()
    const body = (await locked.json()) as { error: { code: string; message: string; details: { reason: string } } }
    expect(body.error.code).toBe('RATE_LIMITED')
    expect(body.error.details.reason).toBe('authentication-failures')
    expect(body.error.message).toContain('too many failed authentications')

    expect((await asClient('198.51.100.2', server.apiKey)).status).toBe(200)
  })

  test('wrong viewer-session tokens and media secrets count against the same budget', async () => {
    const client = '198.51.100.3'
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/api/viewer/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer not-a-session-${i}`, 'x-forwarded-for': client, 'content-type': 'application/json' },
        body: '{}',
      })
      statuses.push(response.status)
    }
    statuses.push((await asClient(client, wrongKey(99))).status)
    statuses.push(
      (
        await fetch(`${server.url}/api/media/stages`, {
          headers: { 'x-media-auth': 'wrong-media-secret-000', 'x-api-key': server.apiKey, 'x-forwarded-for': client },
        })
      ).status,
    )
    expect(statuses).toEqual([401, 401, 401, 401, 403])
    expect((await asClient(client, wrongKey(100))).status).toBe(429)
  })

  test('a malformed Host (Bun then gives the bare path as the URL) changes nothing: still counted, still locked', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) {
      const answer = await rawRequest(server.url, `GET /api/stats HTTP/1.1\r\nHost: a/b\r\nx-api-key: ${wrongKey(i)}\r\nX-Forwarded-For: 198.51.100.5`)
      expect(answer.text).toContain('"success":false')
      statuses.push(answer.status)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429])
  })

  test('requests with the right key never use up the budget', async () => {
    for (let i = 0; i < 20; i++) expect((await asClient('198.51.100.4', server.apiKey)).status).toBe(200)
    expect((await asClient('198.51.100.4', wrongKey(1))).status).toBe(401)
  })
})

describe('TRUST_PROXY: nobody picks their own bucket through X-Forwarded-For', () => {
  test('with no trusted proxy, varied X-Forwarded-For headers share the peer address bucket', async () => {
    const server = await startTestServer({ RATE_LIMIT_MAX_REQUESTS: '10' })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 30; i++) {
        const response = await server.api('/api/stats', { headers: { 'x-forwarded-for': `203.0.113.${i}` } })
        statuses.push(response.status)
      }
      expect(statuses.filter((s) => s === 200).length).toBe(10)
      expect(statuses.filter((s) => s === 429).length).toBe(20)
    } finally {
      await server.stop()
    }
  })

  test('behind a named proxy the client is the right-most untrusted entry: what the client writes to its left changes nothing', async () => {
    const server = await startTestServer({ RATE_LIMIT_MAX_REQUESTS: '10', TRUST_PROXY: '127.0.0.0/8,10.0.0.0/8' })
    try {
      const statuses: number[] = []
      for (let i = 0; i < 30; i++) {
        const response = await server.api('/api/stats', { headers: { 'x-forwarded-for': `203.0.113.${i}, 198.51.100.9, 10.1.1.1` } })
        statuses.push(response.status)
      }
      expect(statuses.filter((s) => s === 200).length).toBe(10)
      // A different real client behind the proxy has its own bucket.
      expect((await server.api('/api/stats', { headers: { 'x-forwarded-for': '198.51.100.10' } })).status).toBe(200)
    } finally {
      await server.stop()
    }
  })

  test('the compose stack trusts no header unless .env names the proxy in front (it passes TRUST_PROXY through, default unset)', () => {
    const serve = composeFile().services['serve-1']!
    const rendered = renderedEnvironment(serve, { API_SECRET_KEY: 'k'.repeat(24) })
    expect(rendered.TRUST_PROXY).toBeUndefined()
    const config = loadServeConfig(rendered)
    expect(config.ok && config.config.trustProxy).toEqual({ kind: 'none' })
    expect(renderedEnvironment(serve, { API_SECRET_KEY: 'k'.repeat(24), TRUST_PROXY: '10.0.0.0/16' }).TRUST_PROXY).toBe('10.0.0.0/16')
  })
})

/** A memory store that answers the limit counters slowly and calls itself shared, as Redis would be. */
function slowSharedStore(delayMs: number): Store {
  const memory = new MemoryStore()
  const limits = Object.create(memory.limits) as Store['limits']
  limits.countHits = async (...args) => {
    await Bun.sleep(delayMs)
    return memory.limits.countHits(...args)
  }
  limits.countHit = async (...args) => {
    await Bun.sleep(delayMs)
    return memory.limits.countHit(...args)
  }
  return new Proxy(memory, {
    get(target, property) {
      if (property === 'kind') return 'redis'
      if (property === 'limits') return limits
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('the budget holds for requests that arrive together', () => {
  test('with a shared store (the rate limit awaits it), 200 wrong keys at once get at most the budget of 401s', async () => {
    const server = await startTestServer({ AUTH_FAILURE_LIMIT: '5' }, { store: slowSharedStore(5) })
    try {
      const statuses = await Promise.all(
        Array.from({ length: 200 }, (_, i) => server.api('/api/stats', { headers: { 'x-api-key': wrongKey(i) } }).then((r) => r.status)),
      )
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5)
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(195)
    } finally {
      await server.stop()
    }
  })

  /** Sends `count` requests at once; resolves with their statuses. */
  const burst = (count: number, send: (i: number) => Promise<number>) => Promise.all(Array.from({ length: count }, (_, i) => send(i)))
  const upgrade = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }

  // However the path is spelled, a credentialed route's credentials are checked (and a failure
  // charged) in the pipeline's one synchronous step: a burst gets the budget of 401s, the rest 429.
  const SPELLINGS: [string, (server: TestServer, i: number) => Promise<number>][] = [
    ['/metrics/', (server, i) => rawRequest(server.url, `GET /metrics/ HTTP/1.1\r\nHost: x\r\nx-api-key: ${wrongKey(i)}`).then((a) => a.status)],
    ['/metrics/.', (server, i) => rawRequest(server.url, `GET /metrics/. HTTP/1.1\r\nHost: x\r\nx-api-key: ${wrongKey(i)}`).then((a) => a.status)],
    ['/metrics/?x', (server, i) => rawRequest(server.url, `GET /metrics/?x HTTP/1.1\r\nHost: x\r\nx-api-key: ${wrongKey(i)}`).then((a) => a.status)],
    ['//metrics', (server, i) => rawRequest(server.url, `GET //metrics HTTP/1.1\r\nHost: x\r\nx-api-key: ${wrongKey(i)}`).then((a) => a.status)],
    [
      '/%6Detrics (percent-encoded)',
      (server, i) => rawRequest(server.url, `GET /%6Detrics HTTP/1.1\r\nHost: x\r\nx-api-key: ${wrongKey(i)}`).then((a) => a.status),
    ],
    ['/ws?type=dashboard&apiKey=…', (server, i) => fetch(`${server.url}/ws?type=dashboard&apiKey=${wrongKey(i)}`, { headers: upgrade }).then((r) => r.status)],
    [
      '/ws?type=media-server (x-api-key)',
      (server, i) => fetch(`${server.url}/ws?type=media-server`, { headers: { ...upgrade, 'x-api-key': wrongKey(i) } }).then((r) => r.status),
    ],
    [
      '/ws?type=viewer&viewerSession=…',
      (server, i) => fetch(`${server.url}/ws?type=viewer&userId=u&viewerSession=v1.forged-${i}.x`, { headers: upgrade }).then((r) => r.status),
    ],
  ]
  test.each(SPELLINGS)('%s: 200 wrong credentials at once through a slow shared store get at most the budget of 401s', async (_, send) => {
    const server = await startTestServer({ AUTH_FAILURE_LIMIT: '5' }, { store: slowSharedStore(5) })
    try {
      const statuses = await burst(200, (i) => send(server, i))
      const counts = Object.fromEntries([...new Set(statuses)].map((s) => [s, statuses.filter((x) => x === s).length]))
      expect(counts[401] ?? 0).toBeLessThanOrEqual(5)
      expect(counts[429] ?? 0).toBeGreaterThanOrEqual(195)
      expect((counts[401] ?? 0) + (counts[429] ?? 0)).toBe(200)
    } finally {
      await server.stop()
    }
  })

  test('an expired viewer session is not a guess: it is refused as expired and not charged', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
    const server = await startTestServer({ AUTH_FAILURE_LIMIT: '3', VIEWER_TOKEN_TTL_MIN: '1' }, { clock, ticker: new ManualTicker() })
    try {
      const token = (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'sleepy' } })).json()).data
      clock.advance(3 * 60_000)
      for (let i = 0; i < 10; i++) {
        const response = await fetch(`${server.url}/api/viewer/heartbeat`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token.viewerSession}`, 'content-type': 'application/json' },
          body: JSON.stringify({ userId: 'sleepy', stageArn: token.stageArn }),
        })
        expect(response.status).toBe(401)
        expect((await response.json()).error).toMatchObject({ code: 'UNAUTHORIZED', details: { reason: 'session-expired' } })
      }
      expect((await server.api('/api/stats')).status).toBe(200)
      // A forged one is a guess.
      for (let i = 0; i < 3; i++) {
        const forged = `${token.viewerSession.slice(0, -4)}AAAA`
        expect((await fetch(`${server.url}/api/viewer/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${forged}` } })).status).toBe(401)
      }
      expect((await server.api('/api/stats')).status).toBe(429)
    } finally {
      await server.stop()
    }
  })
})
