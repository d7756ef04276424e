import { describe, expect, test } from 'bun:test'
import { WhipError, whipDelete, whipPublish } from '../../relay/whip-client'

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
