import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { MemoryStore } from '../../src/store/memory'
import { startTestServer, type TestServer } from '../support/serve'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer()
})
afterAll(() => server.stop())

const viewer = (json: unknown) => server.api('/api/token/viewer', { method: 'POST', json })
async function expectError(res: Response, status: number, code: string, mentions?: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toContain('application/json')
  expect(res.headers.get('x-request-id')).toBeTruthy()
  const body = await res.json()
  expect(body.success).toBe(false)
  expect(body.error.code).toBe(code)
  expect(Date.parse(body.timestamp)).not.toBeNaN()
  if (mentions) expect(body.error.message).toContain(mentions)
  return body
}

describe('bad input gets 4xx with the envelope and names the field', () => {
  test('userId missing, empty, too long, wrong type', async () => {
    await expectError(await viewer({}), 400, 'VALIDATION_ERROR', 'userId')
    await expectError(await viewer({ userId: '' }), 400, 'VALIDATION_ERROR', 'userId must be 1-128 characters')
    await expectError(await viewer({ userId: 'x'.repeat(129) }), 400, 'VALIDATION_ERROR', 'userId must be 1-128 characters')
    await expectError(await viewer({ userId: 42 }), 400, 'VALIDATION_ERROR', 'userId')
    expect((await viewer({ userId: 'x'.repeat(128) })).status).toBe(200)
  })

  test('attributes over 1 KB or not a string map', async () => {
    await expectError(await viewer({ userId: 'a', attributes: { big: 'x'.repeat(1022) } }), 400, 'VALIDATION_ERROR', 'attributes')
    await expectError(await viewer({ userId: 'a', attributes: { n: 5 } }), 400, 'VALIDATION_ERROR', 'attributes')
    await expectError(await viewer({ userId: 'a', attributes: ['x'] }), 400, 'VALIDATION_ERROR', 'attributes')
    await expectError(await viewer({ userId: 'a', attributes: 'x' }), 400, 'VALIDATION_ERROR', 'attributes')
    expect((await viewer({ userId: 'a', attributes: { fine: 'x'.repeat(1000) } })).status).toBe(200)
  })

  test('unknown fields are rejected by name', async () => {
    await expectError(await viewer({ userId: 'a', admin: true }), 400, 'VALIDATION_ERROR', 'admin')
  })

  test('non-JSON body and wrong content type', async () => {
    await expectError(
      await server.api('/api/token/viewer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":' }),
      400,
      'VALIDATION_ERROR',
      'not valid JSON',
    )
    await expectError(
      await server.api('/api/token/viewer', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'userId=a' }),
      400,
      'VALIDATION_ERROR',
      'Content-Type must be application/json',
    )
    await expectError(
      await server.api('/api/token/viewer', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'userId=a' }),
      400,
      'VALIDATION_ERROR',
      'Content-Type',
    )
    await expectError(await server.api('/api/token/viewer', { method: 'POST', json: ['userId'] }), 400, 'VALIDATION_ERROR')
  })

  test('a 65 KB body → 413, whether its length is declared or chunked', async () => {
    const big = JSON.stringify({ userId: 'a', attributes: { x: 'y'.repeat(65 * 1024) } })
    await expectError(
      await server.api('/api/token/viewer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big }),
      413,
      'PAYLOAD_TOO_LARGE',
      '65536',
    )
    const chunked = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 65; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)))
        controller.close()
      },
    })
    await expectError(
      await server.api('/api/token/viewer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunked }),
      413,
      'PAYLOAD_TOO_LARGE',
    )
  })

  test('malformed query values name the parameter', async () => {
    await expectError(await server.api('/api/viewer/duration'), 400, 'VALIDATION_ERROR', 'userId')
    const arn = encodeURIComponent((await server.stages.master()).arn)
    await expectError(await server.api(`/api/viewer/list/${arn}?limit=0`), 400, 'VALIDATION_ERROR', 'limit')
    await expectError(await server.api(`/api/viewer/list/${arn}?limit=abc`), 400, 'VALIDATION_ERROR', 'limit')
  })

  test('no state is half-written by refused requests', async () => {
    const before = (await (await server.api('/api/stats')).json()).data.totalViewers
    await viewer({ userId: '' })
    await viewer({ userId: 'ok-user', extra: 1 })
    await viewer({ userId: 'ok-user', attributes: { big: 'x'.repeat(2000) } })
    const after = (await (await server.api('/api/stats')).json()).data.totalViewers
    expect(after).toBe(before)
    expect(await server.store.findViewer('ok-user')).toBeNull()
  })
})

describe('auth', () => {
  test('missing or wrong API key → 401 on every /api route', async () => {
    await expectError(await fetch(`${server.url}/api/stats`), 401, 'UNAUTHORIZED', 'x-api-key header is required')
    await expectError(await fetch(`${server.url}/api/stats`, { headers: { 'x-api-key': 'wrong' } }), 401, 'UNAUTHORIZED', 'not valid')
    await expectError(await fetch(`${server.url}/api/stats`, { headers: { 'x-api-key': `${server.apiKey}x` } }), 401, 'UNAUTHORIZED')
    await expectError(
      await fetch(`${server.url}/api/token/viewer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"a"}' }),
      401,
      'UNAUTHORIZED',
    )
    await expectError(
      await fetch(`${server.url}/api/viewer/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'a', stageArn: (await server.stages.master()).arn }),
      }),
      401,
      'UNAUTHORIZED',
    )
  })

  test('/health, /swagger and / need no key', async () => {
    for (const path of ['/health', '/health/live', '/health/ready', '/swagger/json', '/']) {
      expect((await fetch(server.url + path)).status).toBe(200)
    }
  })
})

describe('request ids and unknown routes', () => {
  test('every response carries x-request-id; a sane incoming one is echoed', async () => {
    const notFound = await expectError(await fetch(`${server.url}/nope`), 404, 'NOT_FOUND', '/nope')
    expect(notFound.error.message).toBe('no route for GET /nope')
    const echoed = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'trace-123' } })
    expect(echoed.headers.get('x-request-id')).toBe('trace-123')
    const unsafe = await fetch(`${server.url}/health`, { headers: { 'x-request-id': 'bad id\twith tabs' } })
    expect(unsafe.headers.get('x-request-id')).not.toContain('bad')
  })
})

describe('health', () => {
  test('health, live and ready report version, mode, uptime and checks', async () => {
    const health = (await (await fetch(`${server.url}/health`)).json()).data
    expect(health).toMatchObject({
      status: 'ok',
      mode: 'serve',
      version: expect.any(String),
      checks: { store: { ok: true, kind: 'memory' }, ivs: { ok: true, kind: 'local' } },
    })
    expect(health.uptime).toBeGreaterThanOrEqual(0)
    const live = (await (await fetch(`${server.url}/health/live`)).json()).data
    expect(live.status).toBe('ok')
  })
})

describe('rate limit per API key + client IP', () => {
  test('429 with Retry-After and RateLimit-* headers after the limit', async () => {
    const limited = await startTestServer({ RATE_LIMIT_MAX_REQUESTS: '3', RATE_LIMIT_WINDOW_MS: '60000' })
    try {
      const statuses = []
      for (let i = 0; i < 3; i++) {
        const res = await limited.api('/api/stats')
        statuses.push(res.status)
        expect(res.headers.get('ratelimit-limit')).toBe('3')
        expect(res.headers.get('ratelimit-remaining')).toBe(String(2 - i))
      }
      expect(statuses).toEqual([200, 200, 200])
      const refused = await limited.api('/api/stats')
      const body = await expectError(refused, 429, 'RATE_LIMITED')
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(Number(refused.headers.get('ratelimit-reset'))).toBeGreaterThan(0)
      expect(body.error.message).toContain('retry in')
      // A different key from the same address has its own budget; health is never limited.
      expect((await fetch(`${limited.url}/api/stats`, { headers: { 'x-api-key': 'another-key' } })).status).toBe(401)
      expect((await fetch(`${limited.url}/health`)).status).toBe(200)
    } finally {
      await limited.stop()
    }
  })
})

describe('unexpected failures', () => {
  test('500 INTERNAL_ERROR with a request id, no stack, no secret', async () => {
    class BrokenStore extends MemoryStore {
      broken = false
      override async listStages() {
        if (this.broken) throw new Error(`boom at /srv/secret/path.ts:12 with key ${faulty.apiKey}`)
        return super.listStages()
      }
    }
    const store = new BrokenStore()
    const faulty = await startTestServer({}, { store } as never)
    try {
      store.broken = true
      const res = await faulty.api('/api/stats')
      const body = await expectError(res, 500, 'INTERNAL_ERROR')
      const text = JSON.stringify(body)
      expect(text).not.toContain('boom')
      expect(text).not.toContain('.ts:')
      expect(text).not.toContain(faulty.apiKey)
      expect(body.error.details.requestId).toBe(res.headers.get('x-request-id'))
    } finally {
      await faulty.stop()
    }
  })
})
