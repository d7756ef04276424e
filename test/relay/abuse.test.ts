import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rawRequest } from '../support/raw-http'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'

const OFFER = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n'

describe('relay: the same guess budget and rate limit as serve', () => {
  let stack: RelayStack
  beforeAll(async () => {
    // 127.0.0.1 is a trusted proxy here, so each test is its own client through X-Forwarded-For.
    stack = await startRelayStack({ relayEnv: { AUTH_FAILURE_LIMIT: '5', RATE_LIMIT_MAX_REQUESTS: '20', TRUST_PROXY: '127.0.0.1' } })
  })
  afterAll(() => stack.stop())

  const publish = (client: string, secret: string) =>
    fetch(`${stack.relay.url}/whip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/sdp', 'x-forwarded-for': client },
      body: OFFER,
    })

  test('wrong publish secrets: 401 for the budget, then 429 for every secret, the right one included', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) statuses.push((await publish('198.51.100.1', `wrong-secret-${i}-0123456789`)).status)
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429])
    const locked = await publish('198.51.100.1', PUBLISH_SECRET)
    expect(locked.status).toBe(429)
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    const body = (await locked.json()) as { error: { code: string; details: { reason: string } } }
    expect(body.error).toMatchObject({ code: 'RATE_LIMITED', details: { reason: 'authentication-failures' } })
    expect(stack.relay.fanout.publisherActive).toBe(false)
  })

  test('wrong tokens on /metrics count too', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${stack.relay.url}/metrics`, { headers: { authorization: `Bearer wrong-${i}`, 'x-forwarded-for': '198.51.100.2' } })
      statuses.push(response.status)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })

  test('/metrics however spelled is /metrics: the API key passes the same check, wrong keys are counted alike', async () => {
    const spellings = ['/metrics/', '/metrics/.', '//metrics', '/%6Detrics', '/metrics/?x']
    for (const path of spellings) {
      const answer = await rawRequest(stack.relay.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: ${stack.serve.apiKey}\r\nX-Forwarded-For: 198.51.100.7`)
      expect({ path, refused: [401, 429].includes(answer.status) }).toEqual({ path, refused: false })
    }
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const path = spellings[i % spellings.length]
      statuses.push(
        (await rawRequest(stack.relay.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nx-api-key: wrong-${i}-0123456789\r\nX-Forwarded-For: 198.51.100.8`)).status,
      )
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })

  test('a malformed Host still gets the envelope with CORS, counted against the budget (not a bare 500)', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const answer = await rawRequest(
        stack.relay.url,
        `POST /whip HTTP/1.1\r\nHost: a/b\r\nOrigin: https://publisher.example\r\nAuthorization: Bearer wrong-${i}-0123456789\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\nX-Forwarded-For: 198.51.100.6`,
        'v=0\n',
      )
      expect(answer.text).toContain('"success":false')
      expect(answer.text.toLowerCase()).toContain('access-control-allow-origin: *')
      statuses.push(answer.status)
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429])
  })

  test('/metrics and /whip are rate-limited per client address with RateLimit-* headers', async () => {
    const statuses: number[] = []
    let last: Response | null = null
    for (let i = 0; i < 25; i++) {
      last = await fetch(`${stack.relay.url}/metrics`, { headers: { 'x-api-key': stack.serve.apiKey, 'x-forwarded-for': '198.51.100.3' } })
      statuses.push(last.status)
    }
    expect(statuses.filter((s) => s === 200).length).toBe(20)
    expect(statuses.slice(20)).toEqual([429, 429, 429, 429, 429])
    expect(last!.headers.get('ratelimit-limit')).toBe('20')
    expect(last!.headers.get('ratelimit-remaining')).toBe('0')
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)

    const whip: number[] = []
    for (let i = 0; i < 25; i++) whip.push((await publish('198.51.100.4', PUBLISH_SECRET)).status)
    expect(whip.filter((s) => s === 429).length).toBe(5)
    // Another client is unaffected; the public health route is not limited.
    expect((await fetch(`${stack.relay.url}/metrics`, { headers: { 'x-api-key': stack.serve.apiKey, 'x-forwarded-for': '198.51.100.5' } })).status).toBe(200)
    expect((await fetch(`${stack.relay.url}/health`, { headers: { 'x-forwarded-for': '198.51.100.3' } })).status).toBe(200)
  })
})
