import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'
import { startTestServer, type TestServer } from '../support/serve'

/**
 * Sends a request's head (and maybe part of its body) over a raw socket and never the rest, the
 * way a slow or stalled upload does; resolves with the status line and how long the answer took.
 */
function stalledUpload(
  url: string,
  path: string,
  headers: Record<string, string>,
  partialBody = '',
): Promise<{ status: number; ms: number; text: string; serverClosed: Promise<boolean> }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect(Number(port), hostname)
    let received = ''
    let answered = false
    const done = () => {
      const status = Number(received.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0)
      if (status) {
        // Keep sending nothing: does the server end the connection by itself (within a second)?
        const serverClosed = new Promise<boolean>((settle) => {
          const timer = setTimeout(() => {
            socket.destroy()
            settle(false)
          }, 1_000)
          socket.once('close', () => {
            clearTimeout(timer)
            settle(true)
          })
        })
        resolve({ status, ms: performance.now() - started, text: received, serverClosed })
      }
    }
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8')
      if (received.includes('\r\n\r\n') && received.includes('"timestamp"') && !answered) {
        answered = true
        done()
      }
    })
    socket.on('error', reject)
    socket.on('close', () => {
      if (!received) reject(new Error('closed without an answer'))
    })
    const head = Object.entries({ host: `${hostname}:${port}`, 'content-length': '4096', ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')
    socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n${partialBody}`)
  })
}

describe('serve: credentials before the body, and bodies on a deadline', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await startTestServer({ BODY_TIMEOUT_MS: '1500' })
  })
  afterAll(() => server.stop())

  test('an unauthenticated malformed body is 401, not 400: nothing is parsed for a caller without a key', async () => {
    const attempts: Record<string, string>[] = [{}, { 'x-api-key': 'wrong-key-0123456789abcdef' }, { authorization: 'Bearer not-a-session' }]
    for (const headers of attempts) {
      const response = await fetch(`${server.url}/api/token/viewer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"userId": ',
      })
      expect(response.status).toBe(401)
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED')
    }
    // With the key, the same body is what is wrong.
    const keyed = await server.api('/api/token/viewer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId": ' })
    expect(keyed.status).toBe(400)
  })

  test('an unauthenticated upload is refused at its headers: 100 stalled ones are all answered 401 at once, and their connections ended', async () => {
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => stalledUpload(server.url, '/api/token/viewer', { 'content-type': 'application/json' }, '{"userId":')),
    )
    for (const answer of answers) {
      expect(answer.status).toBe(401)
      // Well before the body deadline: nobody waited for the body.
      expect(answer.ms).toBeLessThan(1_000)
      // Nobody will read the rest of the body either: the connection is not held for it.
      expect(answer.text.toLowerCase()).toContain('connection: close')
    }
    const closed = await Promise.all(answers.map((answer) => answer.serverClosed))
    expect(closed.filter(Boolean).length).toBe(100)
  })

  test('an authenticated body that does not arrive in BODY_TIMEOUT_MS gets 408 REQUEST_TIMEOUT with the envelope, and the connection ends', async () => {
    const answer = await stalledUpload(server.url, '/api/token/viewer', { 'content-type': 'application/json', 'x-api-key': server.apiKey }, '{"userId":')
    expect(answer.status).toBe(408)
    expect(answer.ms).toBeGreaterThanOrEqual(1_450)
    expect(answer.text).toContain('"code":"REQUEST_TIMEOUT"')
    expect(answer.text.toLowerCase()).toContain('x-request-id:')
    // The connection is ended: the server does not go on reading a body it has given up on.
    expect(await answer.serverClosed).toBe(true)
    // The server is fine afterwards.
    expect((await server.api('/api/stats')).status).toBe(200)
  })
})

describe('relay: the publish secret before the offer', () => {
  let stack: RelayStack
  beforeAll(async () => {
    stack = await startRelayStack({ relayEnv: { BODY_TIMEOUT_MS: '300' } })
  })
  afterAll(() => stack.stop())

  test('a WHIP offer without the secret is refused at its headers; with it, a stalled offer times out with 408', async () => {
    const refused = await stalledUpload(stack.relay.url, '/whip', { 'content-type': 'application/sdp' }, 'v=0\r\n')
    expect(refused.status).toBe(401)
    expect(refused.ms).toBeLessThan(300)
    const malformed = await fetch(`${stack.relay.url}/whip`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer wrong-secret-0123456789' },
      body: '{',
    })
    expect(malformed.status).toBe(401)
    // A browser's offer (with its Origin): the 408 still lets the page read the answer.
    const slow = await stalledUpload(
      stack.relay.url,
      '/whip',
      { 'content-type': 'application/sdp', authorization: `Bearer ${PUBLISH_SECRET}`, origin: 'https://publisher.example' },
      'v=0\r\n',
    )
    expect(slow.status).toBe(408)
    expect(slow.text).toContain('"code":"REQUEST_TIMEOUT"')
    expect(slow.text.toLowerCase()).toContain('access-control-allow-origin:')
  })
})
