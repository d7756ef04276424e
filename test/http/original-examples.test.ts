/**
 * The original API server's and media server's documented requests, replayed as a client written
 * to those documents sends them (bodies and headers as printed there), against `serve`.
 */
import { describe, expect, test } from 'bun:test'
import { freshServer } from '../support/serve'

const API_KEY = 'your-api-secret-key-0123456789'
const MEDIA_SECRET = 'your-media-server-secret-0123'

async function original() {
  const server = await freshServer({ API_SECRET_KEY: API_KEY, MEDIA_SERVER_SECRET: MEDIA_SECRET })
  const call = (method: string, path: string, headers: Record<string, string>, body?: string) => fetch(`${server.url}${path}`, { method, headers, body })
  return Object.assign(server, { call })
}

describe("the original documents' examples, verbatim", () => {
  test('API server: publisher and viewer tokens, stats, stage list', async () => {
    await using s = await original()
    const json = { 'x-api-key': API_KEY, 'Content-Type': 'application/json' }
    expect((await s.call('POST', '/api/token/publisher', json, '{"userId": "publisher-123"}')).status).toBe(200)
    const viewer = await s.call('POST', '/api/token/viewer', json, '{"userId": "viewer-456"}')
    expect(viewer.status).toBe(200)
    const token = (await viewer.json()).data
    // (typeof checks: bun's toMatchObject with expect.any() rewrites the object it is given)
    expect([typeof token.stageArn, typeof token.participantId, typeof token.token]).toEqual(['string', 'string', 'string'])
    expect((await s.call('GET', '/api/stats', { 'x-api-key': API_KEY })).status).toBe(200)
    expect((await s.call('GET', '/api/stage/list', { 'x-api-key': API_KEY })).status).toBe(200)
    // Rejoin naming the stage being left, and a heartbeat, as a viewer app does.
    const rejoin = await s.call('POST', '/api/viewer/rejoin', json, JSON.stringify({ userId: 'viewer-456', stageArn: token.stageArn }))
    expect(rejoin.status).toBe(200)
    const moved = (await rejoin.json()).data
    const beat = await s.call('POST', '/api/viewer/heartbeat', json, JSON.stringify({ userId: 'viewer-456', stageArn: moved.stageArn }))
    expect(beat.status).toBe(200)
  })

  test('media server: register with SERVER_IP=localhost, stages and heartbeat with the API key only, a count of stages', async () => {
    await using s = await original()
    const media = { 'x-api-key': API_KEY, 'x-media-auth': MEDIA_SECRET, 'Content-Type': 'application/json' }
    const register = await s.call('POST', '/api/media/register', media, '{"serverId":"media-server-01","ipAddress":"localhost","port":3001}')
    expect(register.status).toBe(200)
    expect((await register.json()).data.stages.length).toBe(1)
    const stages = await s.call('GET', '/api/media/stages', { 'x-api-key': API_KEY })
    expect(stages.status).toBe(200)
    const heartbeat = await s.call(
      'POST',
      '/api/media/heartbeat',
      { 'x-api-key': API_KEY, 'Content-Type': 'application/json' },
      '{"serverId":"media-server-01","publisherActive":true,"connectedStages":5}',
    )
    expect(heartbeat.status).toBe(200)
    const publisher = (await (await s.call('GET', '/api/stats/publisher', { 'x-api-key': API_KEY })).json()).data
    expect(publisher).toMatchObject({ active: true, serverId: 'media-server-01' })
    expect(publisher.relays).toEqual([expect.objectContaining({ serverId: 'media-server-01', state: 'online', connectedStages: 5 })])
    // Host names and IPv6 are addresses too; anything else is named.
    for (const ipAddress of ['media-1.internal.example.com', '::1', '10.0.0.12']) {
      expect((await s.call('POST', '/api/media/register', media, JSON.stringify({ serverId: 'media-server-02', ipAddress, port: 3001 }))).status).toBe(200)
    }
    const bad = await s.call('POST', '/api/media/register', media, JSON.stringify({ serverId: 'media-server-03', ipAddress: 'not a host!', port: 3001 }))
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.message).toContain('ipAddress')
  })

  test('the OpenAPI document lists the paths as clients call them (no trailing slash)', async () => {
    await using s = await original()
    const paths = Object.keys((await (await fetch(`${s.url}/swagger/json`)).json()).paths)
    expect(paths).toContain('/api/stats')
    expect(paths).toContain('/api/stage')
    expect(paths.filter((p) => p.endsWith('/') && p !== '/')).toEqual([])
  })
})

describe('CORS', () => {
  const withOrigins = () => freshServer({ API_SECRET_KEY: API_KEY, CORS_ORIGINS: 'https://admin.example.com' })
  const preflight = (url: string, origin: string, headers = 'authorization, content-type') =>
    fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers } })

  test('viewer-session routes answer any origin: Authorization and Content-Type, no credentials', async () => {
    await using s = await withOrigins()
    for (const path of ['/api/viewer/heartbeat', '/api/viewer/leave', '/api/viewer/rejoin']) {
      const res = await preflight(`${s.url}${path}`, 'https://viewers.example.net')
      expect([path, res.status]).toEqual([path, 204])
      expect(res.headers.get('access-control-allow-origin')).toBe('*')
      expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type')
      expect(res.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS')
      expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    }
    // The actual answer, an error included, carries the allow header too.
    const beat = await fetch(`${s.url}/api/viewer/heartbeat`, {
      method: 'POST',
      headers: { origin: 'https://viewers.example.net', authorization: 'Bearer bogus', 'content-type': 'application/json' },
      body: '{}',
    })
    expect(beat.status).toBe(401)
    expect(beat.headers.get('access-control-allow-origin')).toBe('*')
    expect(beat.headers.get('access-control-expose-headers')).toContain('x-request-id')
  })

  test('API-key routes answer only CORS_ORIGINS; an unlisted origin gets no allow headers', async () => {
    await using s = await withOrigins()
    const listed = await preflight(`${s.url}/api/token/viewer`, 'https://admin.example.com', 'x-api-key, content-type')
    expect(listed.status).toBe(204)
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://admin.example.com')
    expect(listed.headers.get('access-control-allow-headers')).toContain('x-api-key')
    expect(listed.headers.get('vary')).toBe('Origin')
    const unlisted = await preflight(`${s.url}/api/token/viewer`, 'https://evil.example.org', 'x-api-key, content-type')
    expect(unlisted.headers.get('access-control-allow-origin')).toBeNull()
    expect(unlisted.headers.get('access-control-allow-headers')).toBeNull()
    const get = await fetch(`${s.url}/api/stats`, { headers: { origin: 'https://evil.example.org', 'x-api-key': API_KEY } })
    expect(get.headers.get('access-control-allow-origin')).toBeNull()
    // Viewer-session routes with the API key: only from a listed origin.
    const keyFromViewerOrigin = await preflight(`${s.url}/api/viewer/heartbeat`, 'https://viewers.example.net', 'x-api-key, content-type')
    expect(keyFromViewerOrigin.headers.get('access-control-allow-headers')).not.toContain('x-api-key')
  })

  test('preflights are cheap and unlimited by design: no auth, no store, not rate-limited, and they never reach a route', async () => {
    await using s = await freshServer({ API_SECRET_KEY: API_KEY, RATE_LIMIT_MAX_REQUESTS: '5' })
    const answers = await Promise.all(Array.from({ length: 50 }, () => preflight(`${s.url}/api/viewer/heartbeat`, 'https://x.example').then((r) => r.status)))
    expect(new Set(answers)).toEqual(new Set([204]))
    // The rate limit still counts real requests.
    const statuses = []
    for (let i = 0; i < 7; i++) statuses.push((await s.api('/api/stats')).status)
    expect(statuses.filter((x) => x === 429).length).toBe(2)
  })

  test('CORS_ORIGINS must be exact origins; * is refused', async () => {
    const { loadServeConfig } = await import('../../src/config/serve')
    const errors = (value: string) => {
      const r = loadServeConfig({ CORS_ORIGINS: value })
      return r.ok ? [] : r.errors
    }
    expect(errors('https://a.example, http://localhost:5173')).toEqual([])
    expect(errors('*')[0]).toContain('not *')
    expect(errors('https://a.example/app')[0]).toContain('is not an origin')
  })
})
