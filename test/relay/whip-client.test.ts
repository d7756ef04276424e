import { describe, expect, test } from 'bun:test'
import { StageSession } from '../../relay/egress/stage-session'
import { WhipError, whipDelete, whipPublish } from '../../relay/egress/whip-client'
import { PacketHistory } from '../../relay/rtp/packet-history'
import { silentLogger } from '../../src/log'
import { eventually } from '../support/eventually'

interface Seen {
  method: string
  path: string
  auth: string | null
  body: string
}

/** A fake WHIP endpoint on loopback that records every request it gets. */
async function fakeEndpoint() {
  const seen: Seen[] = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const url = new URL(request.url)
      seen.push({
        method: request.method,
        path: url.pathname + url.search,
        auth: request.headers.get('authorization'),
        body: request.method === 'POST' ? await request.text() : '',
      })
      if (url.pathname === '/global/whip') return new Response(null, { status: 307, headers: { location: '/region/whip' } })
      if (url.pathname === '/region/whip') return new Response(null, { status: 307, headers: { location: 'final' } }) // relative to /region/
      if (url.pathname === '/region/final') return new Response('v=0 answer', { status: 201, headers: { location: 'resource/abc', etag: '"e1"' } })
      if (url.pathname === '/loop') return new Response(null, { status: 308, headers: { location: '/loop' } })
      if (url.pathname === '/no-location') return new Response('v=0', { status: 201 })
      if (url.pathname === '/denied') return new Response('bad token', { status: 403 })
      if (url.pathname === '/hang') return new Promise<Response>(() => {})
      // Redirects to another origin: `?to=` is the target (an absolute URL).
      if (url.pathname === '/away')
        return new Response(null, { status: Number(url.searchParams.get('status') ?? 307), headers: { location: url.searchParams.get('to')! } })
      if (url.pathname === '/resource-away') return new Response('v=0 answer', { status: 201, headers: { location: url.searchParams.get('to')! } })
      if (url.pathname === '/same-absolute') return new Response(null, { status: 308, headers: { location: `${url.origin}/region/final` } })
      if (request.method === 'DELETE' && url.pathname === '/region/resource/abc') return new Response(null, { status: 200 })
      if (request.method === 'DELETE' && url.pathname === '/region/resource/broken') return new Response(null, { status: 500 })
      if (request.method === 'DELETE') return new Response(null, { status: 404 })
      return new Response('?', { status: 500 })
    },
  })
  return { base: `http://127.0.0.1:${server.port}`, seen, [Symbol.asyncDispose]: () => server.stop(true) }
}

describe('WHIP client', () => {
  test('follows 307 twice by hand, re-sending Authorization and the offer, resolving relative Locations', async () => {
    await using endpoint = await fakeEndpoint()
    const result = await whipPublish(`${endpoint.base}/global/whip`, 'tok-123', 'v=0 offer')
    expect(result).toEqual({ resourceUrl: `${endpoint.base}/region/resource/abc`, answer: 'v=0 answer', etag: '"e1"' })
    expect(endpoint.seen.map((s) => s.path)).toEqual(['/global/whip', '/region/whip', '/region/final'])
    expect(endpoint.seen.every((s) => s.auth === 'Bearer tok-123' && s.body === 'v=0 offer')).toBe(true)
  })

  test('gives up after 5 redirects; refuses 201 without Location; reports the status of a refusal', async () => {
    await using endpoint = await fakeEndpoint()
    await expect(whipPublish(`${endpoint.base}/loop`, 't', 'o')).rejects.toThrow('more than 5 times')
    expect(endpoint.seen.length).toBe(6)
    await expect(whipPublish(`${endpoint.base}/no-location`, 't', 'o')).rejects.toThrow('without a Location')
    const denied = await whipPublish(`${endpoint.base}/denied`, 't', 'o').catch((e: WhipError) => e)
    expect(denied).toBeInstanceOf(WhipError)
    expect((denied as WhipError).status).toBe(403)
  })

  test('refuses a redirect to another origin that is not https: that server never sees the request, nor the token', async () => {
    await using endpoint = await fakeEndpoint()
    await using other = await fakeEndpoint() // another port on loopback: another origin, plain http
    for (const status of [301, 302, 307, 308]) {
      const away = `${endpoint.base}/away?status=${status}&to=${encodeURIComponent(`${other.base}/region/final`)}`
      const refused = await whipPublish(away, 'tok-secret', 'v=0 offer').catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(WhipError)
      expect((refused as WhipError).message).toContain(`refused a redirect to ${other.base}`)
      expect((refused as WhipError).message).not.toContain('tok-secret')
    }
    expect(other.seen).toEqual([])
    expect(endpoint.seen.every((s) => s.path.startsWith('/away'))).toBe(true)
  })

  test("follows a redirect within the endpoint's own origin (relative or absolute) and one to an https origin", async () => {
    await using endpoint = await fakeEndpoint()
    const result = await whipPublish(`${endpoint.base}/same-absolute`, 'tok-1', 'v=0 offer')
    expect(result.resourceUrl).toBe(`${endpoint.base}/region/resource/abc`)
    expect(endpoint.seen.map((s) => [s.path, s.auth])).toEqual([
      ['/same-absolute', 'Bearer tok-1'],
      ['/region/final', 'Bearer tok-1'],
    ])
    // https elsewhere is followed (as IVS's global endpoint redirects to a regional one): the POST is
    // attempted there; a plain-HTTP listener cannot complete the TLS handshake, so it fails as a POST, not a refusal.
    await using plain = await fakeEndpoint()
    const https = plain.base.replace('http:', 'https:')
    const attempted = await whipPublish(`${endpoint.base}/away?to=${encodeURIComponent(`${https}/region/final`)}`, 'tok-2', 'o', { timeoutMs: 3_000 }).catch(
      (e: unknown) => e,
    )
    expect(attempted).toBeInstanceOf(WhipError)
    expect((attempted as WhipError).message).toContain(`WHIP POST to ${https} failed`)
    expect(plain.seen).toEqual([])
  })

  test("refuses a session resource (the 201's Location) on another origin that is not https: DELETE would carry the token there", async () => {
    await using endpoint = await fakeEndpoint()
    await using other = await fakeEndpoint()
    const refused = await whipPublish(`${endpoint.base}/resource-away?to=${encodeURIComponent(`${other.base}/resource/x`)}`, 't', 'o').catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(WhipError)
    expect((refused as WhipError).message).toContain(`refused a session resource on ${other.base}`)
    expect(other.seen).toEqual([])
  })

  test('a refused redirect is a stage session failure: reported in lastError, retried with backoff, the token never leaves', async () => {
    await using endpoint = await fakeEndpoint()
    await using other = await fakeEndpoint()
    const session = new StageSession('arn:aws:ivs:us-east-1:0:stage/redirected', {
      grant: async () => ({ token: 'stage-token', whipUrl: `${endpoint.base}/away?to=${encodeURIComponent(`${other.base}/whip`)}` }),
      logger: silentLogger,
      history: new PacketHistory(64),
      senderClock: () => null,
      requestKeyframe: () => {},
      bindAddress: '127.0.0.1',
      backoff: { baseMs: 50, capMs: 100 },
    })
    session.start()
    try {
      await eventually('retried after the refusal', () => endpoint.seen.length >= 3, 5_000)
      const snapshot = session.snapshot()
      expect(['backoff', 'connecting']).toContain(snapshot.state)
      expect(snapshot.lastError).toContain(`refused a redirect to ${other.base}`)
      expect(other.seen).toEqual([])
    } finally {
      await session.stop()
    }
  }, 10_000)

  test('times out a hanging handshake', async () => {
    await using endpoint = await fakeEndpoint()
    const started = performance.now()
    await expect(whipPublish(`${endpoint.base}/hang`, 't', 'o', { timeoutMs: 300 })).rejects.toThrow(WhipError)
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  test('DELETE goes to the resource with the stage token; a resource already gone is fine; a failure is reported', async () => {
    await using endpoint = await fakeEndpoint()
    await whipDelete(`${endpoint.base}/region/resource/abc`, 'tok-abc')
    await whipDelete(`${endpoint.base}/region/resource/gone`, 'tok-gone')
    expect(endpoint.seen.map(({ method, path, auth }) => ({ method, path, auth }))).toEqual([
      { method: 'DELETE', path: '/region/resource/abc', auth: 'Bearer tok-abc' },
      { method: 'DELETE', path: '/region/resource/gone', auth: 'Bearer tok-gone' },
    ])
    const failed = await whipDelete(`${endpoint.base}/region/resource/broken`, 't').catch((e: unknown) => e)
    expect(failed).toBeInstanceOf(WhipError)
    expect((failed as WhipError).status).toBe(500)
  })
})
