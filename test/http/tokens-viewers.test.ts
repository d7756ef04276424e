import { describe, expect, test } from 'bun:test'
import { decodeJwt } from 'jose'
import { enc, freshServer, type TestServer } from '../support/serve'

/** Each test's own server: capacity 3, at most 2 stages, an empty memory store. */
const SMALL_FLEET = { STAGE_CAPACITY: '3', SCALE_UP_THRESHOLD: '2', SCALE_DOWN_THRESHOLD: '1', MAX_STAGES: '2' }

const post = (server: TestServer, path: string, json: unknown, headers?: Record<string, string>) => server.api(path, { method: 'POST', json, headers })
const data = async (res: Response) => {
  const body = await res.json()
  expect(body.success).toBe(true)
  expect(Date.parse(body.timestamp)).not.toBeNaN()
  return body.data
}
const masterOf = async (server: TestServer) => (await server.stages.master()).arn

/** Seats viewer-0 … viewer-(count-1) in order: the first three on the master, the next three on a second stage. */
async function seat(server: TestServer, count: number): Promise<{ stageArn: string; viewerSession: string }[]> {
  const seats = []
  for (let i = 0; i < count; i++) seats.push(await data(await post(server, '/api/token/viewer', { userId: `viewer-${i}` })))
  return seats
}

describe('tokens and viewers on real state', () => {
  test('publisher token for the master stage (the README curl)', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const res = await post(server, '/api/token/publisher', { userId: 'publisher-123' })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toBeTruthy()
    const d = await data(res)
    const master = d.stageArn
    expect(master).toBe(await masterOf(server))
    expect(d.capabilities).toEqual(['PUBLISH', 'SUBSCRIBE'])
    // A local stage without LOCAL_WHIP_URL carries no media: no WHIP URL, in the answer or the token.
    expect(d.whipUrl).toBeNull()
    const claims = decodeJwt(d.token)
    expect(claims.whip_url).toBeUndefined()
    expect(claims.resource).toBe(master)
    expect(claims.jti).toBe(d.participantId)
    expect(claims.user_id).toBe('publisher-123')
    expect((claims.exp! - claims.iat!) / 60).toBe(240)
    expect(Date.parse(d.expirationTime)).toBe(claims.exp! * 1000)
  })

  test('with LOCAL_WHIP_URL the local stages report it: publisher and relay tokens, the token claim, the stage list', async () => {
    await using server = await freshServer({ ...SMALL_FLEET, LOCAL_WHIP_URL: 'https://whip.example.test/whip' })
    const publisher = await data(await post(server, '/api/token/publisher', { userId: 'publisher-123' }))
    expect(publisher.whipUrl).toBe('https://whip.example.test/whip')
    expect(decodeJwt(publisher.token).whip_url).toBe('https://whip.example.test/whip')
    const relay = await data(await post(server, '/api/token/mediaserver', { serverId: 'relay-1', stageArn: publisher.stageArn }))
    expect(relay.whipUrl).toBe('https://whip.example.test/whip')
    const stages = (await data(await server.api('/api/stage/list'))).stages as { endpoints: { whip: string | null } }[]
    expect(stages.map((s) => s.endpoints.whip)).toEqual(['https://whip.example.test/whip'])
  })

  test('durationMinutes sets the publisher token lifetime', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const d = await data(await post(server, '/api/token/publisher', { userId: 'publisher-123', durationMinutes: 30, attributes: { role: 'host' } }))
    const claims = decodeJwt(d.token)
    expect((claims.exp! - claims.iat!) / 60).toBe(30)
    expect(claims.attributes).toEqual({ role: 'host' })
  })

  test('viewer tokens fill the master first, then a new stage, then 503 CAPACITY_EXHAUSTED', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    const placed: string[] = []
    for (let i = 0; i < 6; i++) {
      const d = await data(await post(server, '/api/token/viewer', { userId: `viewer-${i}` }))
      expect(decodeJwt(d.token).capabilities).toEqual({ allow_publish: false, allow_subscribe: true })
      expect(d.heartbeatIntervalMs).toBe(15000)
      expect(d.viewerSession).toStartWith('v2.')
      placed.push(d.stageArn)
    }
    expect(placed.slice(0, 3)).toEqual([master, master, master])
    expect(new Set(placed.slice(3)).size).toBe(1)
    expect(placed[3]).not.toBe(master)
    const full = await post(server, '/api/token/viewer', { userId: 'viewer-overflow' })
    expect(full.status).toBe(503)
    expect(full.headers.get('retry-after')).toBe('5')
    const body = await full.json()
    expect(body.error.code).toBe('CAPACITY_EXHAUSTED')
    expect(body.error.message).toContain('MAX_STAGES')
    const stats = await data(await server.api('/api/stats'))
    expect(stats.totalViewers).toBe(6)
    expect(stats.stages.map((s: { viewers: number }) => s.viewers)).toEqual([3, 3])
  })

  test('a viewer asking again keeps its seat (no seat leaks on page reloads)', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    await seat(server, 6) // every seat taken
    const again = await data(await post(server, '/api/token/viewer', { userId: 'viewer-0' }))
    expect(again.stageArn).toBe(master)
    expect((await data(await server.api('/api/stats'))).totalViewers).toBe(6)
  })

  test('heartbeat with the viewer session, with the API key, and refused for another user', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    const [first] = await seat(server, 2) // viewer-0 and viewer-1 on the master
    const viewerSession = first!.viewerSession
    const viaSession = await fetch(`${server.url}/api/viewer/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewerSession}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'viewer-0', stageArn: master }),
    })
    expect(viaSession.status).toBe(200)
    const beat = await data(viaSession)
    expect(beat).toEqual({ ok: true, nextHeartbeatMs: 15000, viewerSession: expect.stringMatching(/^v2\./) })
    expect((await post(server, '/api/viewer/heartbeat', { userId: 'viewer-1', stageArn: master })).status).toBe(200)
    const other = await fetch(`${server.url}/api/viewer/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewerSession}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'viewer-1', stageArn: master }),
    })
    expect(other.status).toBe(403)
    expect((await other.json()).error.code).toBe('FORBIDDEN')
    const forged = await fetch(`${server.url}/api/viewer/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewerSession}x`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'viewer-0', stageArn: master }),
    })
    expect(forged.status).toBe(401)
  })

  test('heartbeat for an unknown viewer → 404 REJOIN_REQUIRED', async () => {
    await using server = await freshServer(SMALL_FLEET)
    await seat(server, 1) // someone else is seated: the stranger still is not
    const res = await post(server, '/api/viewer/heartbeat', { userId: 'stranger', stageArn: await masterOf(server) })
    expect(res.status).toBe(404)
    const body = await res.json()
    expect(body.error.code).toBe('REJOIN_REQUIRED')
    expect(body.error.details).toEqual({ rejoin: true, action: 'rejoin' })
  })

  test('viewer list is paginated', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    await seat(server, 6) // viewer-0 … viewer-2 on the master, the rest on the second stage
    const first = await data(await server.api(`/api/viewer/list/${enc(master)}?limit=2`))
    expect(first.viewers.length).toBe(2)
    expect(first.nextCursor).toBeString()
    const second = await data(await server.api(`/api/viewer/list/${enc(master)}?limit=2&cursor=${enc(first.nextCursor)}`))
    expect(second.viewers.length).toBe(1)
    expect(second.nextCursor).toBeNull()
    const ids = [...first.viewers, ...second.viewers].map((v: { userId: string }) => v.userId).sort()
    expect(ids).toEqual(['viewer-0', 'viewer-1', 'viewer-2'])
    for (const v of first.viewers) {
      expect(Date.parse(v.joinedAt)).not.toBeNaN()
      expect(Date.parse(v.lastHeartbeatAt)).not.toBeNaN()
    }
  })

  test('leave returns watch time and frees the seat; leaving twice → 404', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    await seat(server, 6) // every seat taken
    expect((await post(server, '/api/token/viewer', { userId: 'viewer-late' })).status).toBe(503)
    const left = await data(await post(server, '/api/viewer/leave', { userId: 'viewer-2', stageArn: master }))
    expect(left.watchDurationMs).toBeGreaterThanOrEqual(0)
    expect((await post(server, '/api/viewer/leave', { userId: 'viewer-2', stageArn: master })).status).toBe(404)
    const seated = await data(await post(server, '/api/token/viewer', { userId: 'viewer-late' }))
    expect(seated.stageArn).toBe(master)
  })

  test('duration: total and per session, filtered by stage', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    await seat(server, 3)
    await data(await post(server, '/api/viewer/leave', { userId: 'viewer-2', stageArn: master }))
    const d = await data(await server.api('/api/viewer/duration?userId=viewer-2'))
    expect(d.userId).toBe('viewer-2')
    expect(d.sessions.length).toBe(1)
    expect(d.sessions[0]).toMatchObject({ stageArn: master, active: false })
    expect(d.totalMs).toBe(d.sessions[0].durationMs)
    const live = await data(await server.api(`/api/viewer/duration?userId=viewer-0&stageArn=${enc(master)}`))
    expect(live.sessions[0].active).toBe(true)
    expect(live.sessions[0].leftAt).toBeNull()
    const none = await data(await server.api('/api/viewer/duration?userId=nobody'))
    expect(none).toEqual({ userId: 'nobody', totalMs: 0, sessions: [] })
  })

  test('rejoin naming the stage being left: the new seat is elsewhere and the old one is freed in the same step; no room → 503 and the old seat kept', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    const [first] = await seat(server, 1)
    expect(first!.stageArn).toBe(master)
    // The master has room, but the viewer is leaving it: a second stage is made for it.
    const moved = await data(await post(server, '/api/viewer/rejoin', { userId: 'viewer-0', stageArn: master }))
    expect(moved.stageArn).not.toBe(master)
    const stages = await server.store.listStages()
    expect(stages.map((s) => [s.arn === master, s.viewerCount])).toEqual([
      [true, 0],
      [false, 1],
    ])
    // MAX_STAGES is 2 and both are in use: leaving the second has nowhere to go. The seat stays.
    await seat(server, 4) // viewer-0 … viewer-3 (viewer-0 keeps its seat), the master fills up
    const refused = await post(server, '/api/viewer/rejoin', { userId: 'viewer-0', stageArn: moved.stageArn })
    expect(refused.status).toBe(503)
    expect((await refused.json()).error.code).toBe('CAPACITY_EXHAUSTED')
    expect((await server.store.findViewer('viewer-0'))?.stageArn).toBe(moved.stageArn)
  })

  test('rejoin: a seated viewer keeps its stage; after its stage is deleted it gets a new one', async () => {
    await using server = await freshServer(SMALL_FLEET)
    const master = await masterOf(server)
    await seat(server, 6) // viewer-0 … viewer-2 on the master, viewer-3 … viewer-5 on the other stage
    const stay = await data(await post(server, '/api/viewer/rejoin', { userId: 'viewer-0' }))
    expect(stay.stageArn).toBe(master)
    const other = (await data(await server.api('/api/stage/list'))).stages.find((s: { isMaster: boolean }) => !s.isMaster)
    const onOther = await data(await post(server, '/api/viewer/heartbeat', { userId: 'viewer-3', stageArn: other.stageArn }))
    expect(onOther.ok).toBe(true)
    expect((await server.api(`/api/stage/${enc(other.stageArn)}`, { method: 'DELETE' })).status).toBe(200)
    const gone = await post(server, '/api/viewer/heartbeat', { userId: 'viewer-3', stageArn: other.stageArn })
    expect(gone.status).toBe(404)
    expect((await gone.json()).error.code).toBe('REJOIN_REQUIRED')
    // The master is full (viewer-0, viewer-1, viewer-2), so rejoin creates a stage for viewer-3.
    const moved = await data(await post(server, '/api/viewer/rejoin', { userId: 'viewer-3' }))
    expect(moved.stageArn).not.toBe(other.stageArn)
    expect(moved.stageArn).not.toBe(master)
  })

  test('the four stats endpoints agree with the state', async () => {
    await using server = await freshServer(SMALL_FLEET)
    await seat(server, 4) // three on the master, one on the second stage
    const stats = await data(await server.api('/api/stats'))
    const viewers = await data(await server.api('/api/stats/viewers'))
    const stages = await data(await server.api('/api/stats/stages'))
    const publisher = await data(await server.api('/api/stats/publisher'))
    expect(stats.totalViewers).toBe(4)
    expect(stats.activeStages).toBe(2)
    expect(stats.publisherActive).toBe(false)
    expect(viewers).toEqual({ totalViewers: 4, seats: 6, utilisation: 0.6667 })
    expect(stages.maxStages).toBe(2)
    expect(stages.stages.map((s: { viewers: number; utilisation: number }) => [s.viewers, s.utilisation])).toEqual([
      [3, 1],
      [1, 0.3333],
    ])
    expect(publisher).toEqual({ active: false, updatedAt: null, serverId: null, source: null, feedingRelay: null, relays: [] })
  })
})
