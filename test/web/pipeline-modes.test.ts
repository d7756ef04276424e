/**
 * One HTTP pipeline for both modes (src/web/pipeline.ts): the same defences, in the same order,
 * checked case by case against a real serve and a real relay, each on its own credentialed route.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { loadRelayConfig } from '../../relay/config'
import { type RelayHandle, startRelay } from '../../relay/main'
import { silentLogger } from '../../src/log'
import { freePort } from '../support/process'
import { startTestServer, type TestServer } from '../support/serve'

const ORIGIN = 'https://app.example'
const RATE_MAX = 12
const AUTH_FAILURES = 4
const HARDENING = { RATE_LIMIT_MAX_REQUESTS: String(RATE_MAX), AUTH_FAILURE_LIMIT: String(AUTH_FAILURES), BODY_TIMEOUT_MS: '400' }

interface Mode {
  name: string
  base: () => string
  /** The credentialed route's path and its right credential as a header line. */
  path: string
  credentialHeader: () => string
  /** The mode's credentialed route, as a request with the right or a wrong credential. */
  request(credential: 'right' | 'wrong' | 'none', init?: { body?: string; headers?: Record<string, string>; forwardedFor?: string }): Promise<Response>
  drain(): void
}

let serve: TestServer
let relay: RelayHandle
const PUBLISH_SECRET = 'publish-secret-for-the-pipeline-test'

beforeAll(async () => {
  serve = await startTestServer({ ...HARDENING, TRUST_PROXY: '127.0.0.1', CORS_ORIGINS: ORIGIN })
  const config = loadRelayConfig(
    {
      API_PORT: '0',
      // Nobody listens there: the relay's HTTP side works without its API server.
      API_SERVER_URL: `http://127.0.0.1:${await freePort()}`,
      API_SECRET_KEY: serve.apiKey,
      PUBLISH_SECRET,
      TRUST_PROXY: '127.0.0.1',
      ...HARDENING,
    },
    'test',
  )
  if (!config.ok) throw new Error(config.errors.join('; '))
  relay = await startRelay({ config: config.config, logger: silentLogger, bindAddress: '127.0.0.1', controlBackoff: { baseMs: 60_000, capMs: 60_000 } })
})

afterAll(async () => {
  await relay?.stop()
  await serve?.stop()
})

const modes: Mode[] = [
  {
    name: 'serve',
    base: () => serve.url,
    path: '/api/token/viewer',
    credentialHeader: () => `x-api-key: ${serve.apiKey}`,
    request: (credential, init = {}) =>
      fetch(`${serve.url}/api/token/viewer`, {
        method: 'POST',
        headers: {
          origin: ORIGIN,
          'content-type': 'application/json',
          'x-forwarded-for': init.forwardedFor ?? '203.0.113.1',
          ...(credential === 'none' ? {} : { 'x-api-key': credential === 'right' ? serve.apiKey : 'wrong-key-0123456789abcdef' }),
          ...init.headers,
        },
        body: init.body ?? JSON.stringify({ userId: 'pipeline-viewer' }),
      }),
    drain: () => serve.app.store.drain.begin(),
  },
  {
    name: 'relay',
    base: () => relay.url,
    path: '/whip',
    credentialHeader: () => `authorization: Bearer ${PUBLISH_SECRET}`,
    request: (credential, init = {}) =>
      fetch(`${relay.url}/whip`, {
        method: 'POST',
        headers: {
          origin: ORIGIN,
          'content-type': 'application/sdp',
          'x-forwarded-for': init.forwardedFor ?? '203.0.113.1',
          ...(credential === 'none' ? {} : { authorization: `Bearer ${credential === 'right' ? PUBLISH_SECRET : 'wrong-secret-0123456789abcdef'}` }),
          ...init.headers,
        },
        // Not SDP: a request that passed every stage of the pipeline is answered 400 by the route.
        body: init.body ?? 'not an offer',
      }),
    drain: () => relay.app.store.drain.begin(),
  },
]

/** Sends the head and part of a body that never completes; resolves with the first line and the headers of the answer. */
function stalledBody(base: string, head: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let received = ''
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8')
      if (received.includes('\r\n\r\n')) {
        socket.destroy()
        resolve(received)
      }
    })
    socket.on('error', reject)
    socket.write(`${head}\r\n\r\n0123456789`)
  })
}

/**
 * Sends the head of a request with a large declared body, then keeps trickling a byte every 50 ms, as
 * a client holding a connection open does; resolves with the answer's head and whether (and when)
 * the server ended the connection within `waitMs`.
 */
function tricklingBody(base: string, head: string, contentLength = 100_000, waitMs = 1_500): Promise<{ answer: string; closedAfterMs: number | null }> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    let answer = ''
    let answeredAt = 0
    const trickle = setInterval(() => socket.writable && socket.write('x'), 50)
    const finish = (closed: boolean) => {
      clearInterval(trickle)
      clearTimeout(timer)
      socket.destroy()
      resolve({ answer, closedAfterMs: closed ? Math.round(performance.now() - answeredAt) : null })
    }
    const timer = setTimeout(() => finish(false), waitMs)
    socket.on('data', (chunk) => {
      if (!answer) answeredAt = performance.now()
      answer += chunk.toString('utf8')
    })
    socket.on('error', () => {})
    socket.on('close', () => finish(answer !== ''))
    socket.write(`${head}\r\ncontent-length: ${contentLength}\r\n\r\n{`)
  })
}

async function envelopeOf(response: Response) {
  const body = (await response.json()) as { success: boolean; error?: { code: string; message: string; details?: Record<string, unknown> } }
  expect(body.success).toBe(false)
  // Every refusal carries what the earlier stages set: a request id, security headers, CORS.
  expect(response.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._:-]+$/)
  expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  expect(response.headers.get('access-control-allow-origin')).not.toBeNull()
  return body.error!
}

describe.each(modes)('the one pipeline in $name mode', (mode) => {
  // Each case from its own client address (TRUST_PROXY names the loopback proxy), so budgets do not mix.
  let next = 10
  const client = () => `198.51.100.${next++}`

  test('a refused request carries the request id, security headers and CORS; the route answers what passes', async () => {
    const who = client()
    const passed = await mode.request('right', { forwardedFor: who })
    expect(passed.status).toBe(mode.name === 'serve' ? 200 : 400)
    expect(passed.headers.get('ratelimit-limit')).toBe(String(RATE_MAX))
    expect((await envelopeOf(await mode.request('none', { forwardedFor: who }))).code).toBe('UNAUTHORIZED')
  })

  test(`credentials before the body: no credential and a 1 MB declared body → 401, not 413; with it → 413`, async () => {
    const big = 'x'.repeat(1024 * 1024)
    const who = client()
    expect((await mode.request('none', { forwardedFor: who, body: big })).status).toBe(401)
    const tooLarge = await mode.request('right', { forwardedFor: client(), body: big })
    expect(tooLarge.status).toBe(413)
    expect((await envelopeOf(tooLarge)).code).toBe('PAYLOAD_TOO_LARGE')
  })

  test(`the guess budget: ${AUTH_FAILURES} wrong credentials → 401, then 429 for every credential, the right one too`, async () => {
    const who = client()
    for (let i = 0; i < AUTH_FAILURES; i++) expect((await mode.request('wrong', { forwardedFor: who })).status).toBe(401)
    const locked = await mode.request('right', { forwardedFor: who })
    expect(locked.status).toBe(429)
    expect(locked.headers.get('retry-after')).not.toBeNull()
    expect((await envelopeOf(locked)).details?.reason).toBe('authentication-failures')
    // Another address is not affected.
    expect((await mode.request('right', { forwardedFor: client() })).status).not.toBe(429)
  })

  test(`the rate limit: ${RATE_MAX} requests per client, then 429 with Retry-After`, async () => {
    const who = client()
    const statuses: number[] = []
    for (let i = 0; i < RATE_MAX + 2; i++) statuses.push((await mode.request('right', { forwardedFor: who })).status)
    expect(statuses.slice(0, RATE_MAX).every((s) => s !== 429)).toBe(true)
    expect(statuses.slice(RATE_MAX)).toEqual([429, 429])
    const refused = await mode.request('right', { forwardedFor: who })
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await envelopeOf(refused)).code).toBe('RATE_LIMITED')
  })

  test('refused before its body is read (401, then 429; 413): Connection: close, and the server ends the connection while the client trickles', async () => {
    const head = (credential: string, who: string) =>
      [
        `POST ${mode.path} HTTP/1.1`,
        'host: 127.0.0.1',
        `x-forwarded-for: ${who}`,
        credential,
        `content-type: ${mode.name === 'serve' ? 'application/json' : 'application/sdp'}`,
      ].join('\r\n')
    const wrong = mode.name === 'serve' ? 'x-api-key: wrong-key-0123456789abcdef' : 'authorization: Bearer wrong-secret-0123456789abcdef'
    // Many at once from one address: the first few are 401, the rest 429 (the guess budget); every one is ended.
    const who = client()
    const answers = await Promise.all(Array.from({ length: 40 }, () => tricklingBody(mode.base(), head(wrong, who))))
    const tooLarge = await tricklingBody(mode.base(), head(mode.credentialHeader(), client()), 1024 * 1024)
    const statuses = answers.map((a) => Number(a.answer.slice(9, 12)))
    expect(statuses.filter((s) => s === 401).length).toBe(AUTH_FAILURES)
    expect(statuses.filter((s) => s === 429).length).toBe(40 - AUTH_FAILURES)
    expect(tooLarge.answer).toStartWith('HTTP/1.1 413')
    for (const { answer, closedAfterMs } of [...answers, tooLarge]) {
      expect(answer.toLowerCase()).toContain('connection: close')
      expect(answer).toContain('"success":false')
      expect(closedAfterMs).not.toBeNull()
      expect(closedAfterMs!).toBeLessThan(1_000)
    }
  })

  test('headers over 16 KB → 431 HEADERS_TOO_LARGE with the envelope', async () => {
    const answer = await mode.request('right', { forwardedFor: client(), headers: { 'x-filler': 'a'.repeat(20_000) } })
    expect(answer.status).toBe(431)
    expect((await envelopeOf(answer)).code).toBe('HEADERS_TOO_LARGE')
  })

  test('a body that does not arrive within BODY_TIMEOUT_MS → 408 REQUEST_TIMEOUT, with CORS, and the connection ends', async () => {
    const started = performance.now()
    const answer = await stalledBody(
      mode.base(),
      [
        `POST ${mode.path} HTTP/1.1`,
        'host: 127.0.0.1',
        `origin: ${ORIGIN}`,
        `x-forwarded-for: ${client()}`,
        mode.credentialHeader(),
        `content-type: ${mode.name === 'serve' ? 'application/json' : 'application/sdp'}`,
        'content-length: 1000',
      ].join('\r\n'),
    )
    expect(answer).toStartWith('HTTP/1.1 408')
    expect(performance.now() - started).toBeGreaterThanOrEqual(350)
    expect(answer.toLowerCase()).toContain('access-control-allow-origin:')
    expect(answer.toLowerCase()).toContain('connection: close')
  })

  test('a CORS preflight is answered before limits (never counted); any other OPTIONS on a credentialed path counts', async () => {
    const who = client()
    const preflight = () =>
      fetch(`${mode.base()}${mode.path}`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'x-forwarded-for': who } })
    for (let i = 0; i < RATE_MAX + 3; i++) {
      const answer = await preflight()
      expect(answer.status).toBe(204)
      expect(answer.headers.get('access-control-allow-methods')).toContain('POST')
    }
    const plain = client()
    const statuses: number[] = []
    for (let i = 0; i < RATE_MAX + 1; i++)
      statuses.push((await fetch(`${mode.base()}${mode.path}`, { method: 'OPTIONS', headers: { 'x-forwarded-for': plain } })).status)
    expect(statuses.at(-1)).toBe(429)
  })

  test('the drain: Connection: close on every answer and readiness 503 (last: it stops this instance)', async () => {
    mode.drain()
    const answer = await mode.request('right', { forwardedFor: client() })
    expect(answer.headers.get('connection')).toBe('close')
    const ready = await fetch(`${mode.base()}/health/ready`)
    expect(ready.status).toBe(503)
    expect(((await ready.json()) as { error: { details: { reason: string } } }).error.details.reason).toBe('draining')
  })
})
