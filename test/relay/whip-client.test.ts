import { afterAll, describe, expect, test } from 'bun:test'
import { whipDelete, whipPublish, WhipError } from '../../relay/whip-client'

const seen: { path: string; auth: string | null; body: string }[] = []
const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(request) {
    const url = new URL(request.url)
    seen.push({ path: url.pathname + url.search, auth: request.headers.get('authorization'), body: request.method === 'POST' ? await request.text() : '' })
    if (url.pathname === '/global/whip') return new Response(null, { status: 307, headers: { location: '/region/whip' } })
    if (url.pathname === '/region/whip') return new Response(null, { status: 307, headers: { location: 'final' } }) // relative to /region/
    if (url.pathname === '/region/final') return new Response('v=0 answer', { status: 201, headers: { location: 'resource/abc', etag: '"e1"' } })
    if (url.pathname === '/loop') return new Response(null, { status: 308, headers: { location: '/loop' } })
    if (url.pathname === '/no-location') return new Response('v=0', { status: 201 })
    if (url.pathname === '/denied') return new Response('bad token', { status: 403 })
    if (url.pathname === '/hang') return new Promise<Response>(() => {})
    if (request.method === 'DELETE' && url.pathname === '/region/resource/abc') return new Response(null, { status: 200 })
    if (request.method === 'DELETE') return new Response(null, { status: 404 })
    return new Response('?', { status: 500 })
  },
})
afterAll(() => server.stop(true))
const base = `http://127.0.0.1:${server.port}`

describe('WHIP client', () => {
  test('follows 307 twice by hand, re-sending Authorization and the offer, resolving relative Locations', async () => {
    seen.length = 0
    const result = await whipPublish(`${base}/global/whip`, 'tok-123', 'v=0 offer')
    expect(result).toEqual({ resourceUrl: `${base}/region/resource/abc`, answer: 'v=0 answer', etag: '"e1"' })
    expect(seen.map((s) => s.path)).toEqual(['/global/whip', '/region/whip', '/region/final'])
    expect(seen.every((s) => s.auth === 'Bearer tok-123' && s.body === 'v=0 offer')).toBe(true)
  })

  test('gives up after 5 redirects; refuses 201 without Location; reports the status of a refusal', async () => {
    seen.length = 0
    await expect(whipPublish(`${base}/loop`, 't', 'o')).rejects.toThrow('more than 5 times')
    expect(seen.length).toBe(6)
    await expect(whipPublish(`${base}/no-location`, 't', 'o')).rejects.toThrow('without a Location')
    const denied = await whipPublish(`${base}/denied`, 't', 'o').catch((e: WhipError) => e)
    expect(denied).toBeInstanceOf(WhipError)
    expect((denied as WhipError).status).toBe(403)
  })

  test('times out a hanging handshake', async () => {
    const started = performance.now()
    await expect(whipPublish(`${base}/hang`, 't', 'o', { timeoutMs: 300 })).rejects.toThrow(WhipError)
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  test('DELETE the resource; a resource already gone is fine', async () => {
    await whipDelete(`${base}/region/resource/abc`, 't')
    await whipDelete(`${base}/region/resource/gone`, 't')
  })
})
