import { describe, expect, test } from 'bun:test'
import { ManualClock, ManualTicker } from '../support/clock'
import { enc, freshServer, startTestServer } from '../support/serve'

const MEDIA_SECRET = 'media-secret-0123456789'

/** Each test's own server: at most 3 stages, an empty memory store holding only the master. */
const THREE_STAGES = { MAX_STAGES: '3', MEDIA_SERVER_SECRET: MEDIA_SECRET }

const body = async (res: Response) => res.json() as Promise<{ success: boolean; data: any; error: { code: string; message: string; details?: any } }>
const media = { 'x-media-auth': MEDIA_SECRET }

describe('stages', () => {
  test('list holds the master first', async () => {
    await using server = await freshServer(THREE_STAGES)
    const { data } = await body(await server.api('/api/stage/list'))
    expect(data.stages.length).toBe(1)
    expect(data.stages[0]).toMatchObject({ isMaster: true, status: 'active', viewerCount: 0, capacity: 50 })
    expect(data.stages[0].stageArn).toMatch(/^arn:aws:ivs:us-east-1:\d{12}:stage\/[A-Za-z0-9]{12}$/)
    expect(data.stages[0].tags).toEqual({ 'ivs-fanout:fleet': 'ivsf' })
    expect(data.stages[0].stageArn).toBe((await server.stages.master()).arn)
  })

  test('master info carries the publisher state', async () => {
    await using server = await freshServer(THREE_STAGES)
    const masterArn = (await server.stages.master()).arn
    const { data } = await body(await server.api('/api/stage/master/info'))
    expect(data.stage.stageArn).toBe(masterArn)
    expect(data.publisher).toEqual({ active: false, updatedAt: null, serverId: null, source: null })
  })

  test('create, get, rename, delete a stage; the provider sees each change', async () => {
    await using server = await freshServer(THREE_STAGES)
    const res = await server.api('/api/stage', { method: 'POST', json: { name: 'overflow-1', tags: { team: 'live' } } })
    expect(res.status).toBe(200)
    const { data } = await body(res)
    const created = data.stageArn
    expect(data).toMatchObject({ name: 'overflow-1', isMaster: false, status: 'active', tags: { team: 'live', 'ivs-fanout:fleet': 'ivsf' } })
    expect((await server.provider.getStage(created))!.name).toBe('overflow-1')

    const got = await body(await server.api(`/api/stage/${enc(created)}`))
    expect(got.data.stageArn).toBe(created)

    const renamed = await body(await server.api(`/api/stage/${enc(created)}`, { method: 'PUT', json: { name: 'renamed' } }))
    expect(renamed.data.name).toBe('renamed')
    expect((await server.provider.getStage(created))!.name).toBe('renamed')

    const deleted = await server.api(`/api/stage/${enc(created)}`, { method: 'DELETE' })
    expect(deleted.status).toBe(200)
    expect((await body(deleted)).data).toEqual({ stageArn: created, removedViewers: 0 })
    expect(await server.provider.getStage(created)).toBeNull()
    expect((await server.api(`/api/stage/${enc(created)}`)).status).toBe(404)
  })

  test('a stage created without a body gets a generated name', async () => {
    await using server = await freshServer(THREE_STAGES)
    const res = await server.api('/api/stage', { method: 'POST' })
    expect(res.status).toBe(200)
    const { data } = await body(res)
    expect(data.name).toMatch(/^ivsf-\d+$/)
  })

  test('MAX_STAGES is enforced with 409', async () => {
    await using server = await freshServer(THREE_STAGES)
    // The master and two more make 3, the maximum.
    expect((await server.api('/api/stage', { method: 'POST', json: {} })).status).toBe(200)
    expect((await server.api('/api/stage', { method: 'POST', json: {} })).status).toBe(200)
    const res = await server.api('/api/stage', { method: 'POST', json: {} })
    expect(res.status).toBe(409)
    expect((await body(res)).error).toMatchObject({ code: 'CONFLICT', details: { reason: 'max-stages' } })
    expect((await server.provider.listStages()).length).toBe(3)
  })

  test('FANOUT_MODE=replicate: past the master and 5 replicas, 409 with the reason a refused viewer gets (replication-quota)', async () => {
    await using server = await freshServer({ FANOUT_MODE: 'replicate', MAX_STAGES: '8', MEDIA_SERVER_SECRET: MEDIA_SECRET })
    for (let i = 0; i < 5; i++) expect((await server.api('/api/stage', { method: 'POST', json: {} })).status).toBe(200)
    const res = await server.api('/api/stage', { method: 'POST', json: {} })
    expect(res.status).toBe(409)
    const { error } = await body(res)
    expect(error).toMatchObject({ code: 'CONFLICT', details: { reason: 'replication-quota' } })
    expect(error.message).toContain('FANOUT_MODE=replicate')
    expect((await server.provider.listStages()).length).toBe(6)
  })

  test('deleting the master → 409; malformed ARN → 400; unknown ARN → 404', async () => {
    await using server = await freshServer(THREE_STAGES)
    const masterArn = (await server.stages.master()).arn
    const master = await server.api(`/api/stage/${enc(masterArn)}`, { method: 'DELETE' })
    expect(master.status).toBe(409)
    expect((await body(master)).error.code).toBe('CONFLICT')
    expect(await server.provider.getStage(masterArn)).not.toBeNull()

    const malformed = await server.api(`/api/stage/${enc('arn:aws:ivs:us-east-1:1:stage/x')}`)
    expect(malformed.status).toBe(400)
    const m = await body(malformed)
    expect(m.error.code).toBe('VALIDATION_ERROR')
    expect(m.error.message).toContain('stageArn')

    const unknown = await server.api(`/api/stage/${enc('arn:aws:ivs:us-east-1:000000000000:stage/AAAAAAAAAAAA')}`)
    expect(unknown.status).toBe(404)
    expect((await body(unknown)).error.code).toBe('NOT_FOUND')
  })

  test('the fleet tag cannot be set by callers', async () => {
    await using server = await freshServer(THREE_STAGES)
    const res = await server.api('/api/stage', { method: 'POST', json: { tags: { 'ivs-fanout:fleet': 'other' } } })
    expect(res.status).toBe(400)
    expect((await body(res)).error.message).toContain('tags')
  })
})

describe('relay control plane', () => {
  test('x-media-auth where a relay obtains credentials or identity (missing → 401, wrong → 403); the API key alone on stages and heartbeat, a wrong secret still 403', async () => {
    await using server = await freshServer(THREE_STAGES)
    for (const [path, json] of [
      ['/api/media/register', { serverId: 'relay-1', ipAddress: '127.0.0.1', port: 3001 }],
      ['/api/media/token', { serverId: 'relay-1', stageArn: 'arn:aws:ivs:us-east-1:000000000000:stage/AAAAAAAAAAAA' }],
    ] as const) {
      const missing = await server.api(path, { method: 'POST', json })
      expect([path, missing.status]).toEqual([path, 401])
      expect((await body(missing)).error.message).toContain('x-media-auth')
      const wrong = await server.api(path, { method: 'POST', json, headers: { 'x-media-auth': 'wrong-secret-value-123' } })
      expect([path, wrong.status]).toEqual([path, 403])
      expect((await body(wrong)).error.code).toBe('FORBIDDEN')
    }
    expect((await server.api('/api/media/stages')).status).toBe(200)
    const wrong = await server.api('/api/media/stages', { headers: { 'x-media-auth': 'wrong-secret-value-123' } })
    expect(wrong.status).toBe(403)
    const wrongBeat = await server.api('/api/media/heartbeat', {
      method: 'POST',
      headers: { 'x-media-auth': 'wrong-secret-value-123' },
      json: { serverId: 'r', publisherActive: false, connectedStages: 0 },
    })
    expect(wrongBeat.status).toBe(403)
    const noKey = await fetch(`${server.url}/api/media/stages`, { headers: media })
    expect(noKey.status).toBe(401)
    const tokenRoute = await server.api('/api/token/mediaserver', {
      method: 'POST',
      json: { serverId: 'relay-1', stageArn: 'arn:aws:ivs:us-east-1:000000000000:stage/AAAAAAAAAAAA' },
    })
    expect(tokenRoute.status).toBe(401)
  })

  test('register, stages, tokens, heartbeat → publisher state', async () => {
    await using server = await freshServer(THREE_STAGES)
    // Two stages besides the master: the relay is told about all three.
    for (let i = 0; i < 2; i++) expect((await server.api('/api/stage', { method: 'POST', json: {} })).status).toBe(200)
    const heartbeatFirst = await server.api('/api/media/heartbeat', {
      method: 'POST',
      headers: media,
      json: { serverId: 'relay-1', publisherActive: true, connectedStages: [] },
    })
    expect(heartbeatFirst.status).toBe(404)

    const registered = await body(
      await server.api('/api/media/register', { method: 'POST', headers: media, json: { serverId: 'relay-1', ipAddress: '127.0.0.1', port: 3001 } }),
    )
    expect(registered.data.stages.length).toBe(3)
    const stages = await body(await server.api('/api/media/stages', { headers: media }))
    expect(stages.data.stages.map((s: { stageArn: string }) => s.stageArn)).toEqual(registered.data.stages.map((s: { stageArn: string }) => s.stageArn))

    const target = stages.data.stages[1].stageArn
    const viaMedia = await body(await server.api('/api/media/token', { method: 'POST', headers: media, json: { serverId: 'relay-1', stageArn: target } }))
    expect(viaMedia.data).toMatchObject({ stageArn: target, capabilities: ['PUBLISH'] })
    const viaToken = await body(await server.api('/api/token/mediaserver', { method: 'POST', headers: media, json: { serverId: 'relay-1', stageArn: target } }))
    expect(viaToken.data.stageArn).toBe(target)
    const unknown = await server.api('/api/media/token', {
      method: 'POST',
      headers: media,
      json: { serverId: 'relay-1', stageArn: 'arn:aws:ivs:us-east-1:000000000000:stage/AAAAAAAAAAAA' },
    })
    expect(unknown.status).toBe(404)

    const hb = await body(
      await server.api('/api/media/heartbeat', {
        method: 'POST',
        headers: media,
        json: { serverId: 'relay-1', publisherActive: true, connectedStages: [target] },
      }),
    )
    expect(hb.data).toEqual({ ok: true })
    const info = await body(await server.api('/api/stage/master/info'))
    expect(info.data.publisher).toMatchObject({ active: true, serverId: 'relay-1' })
    const pub = await body(await server.api('/api/stats/publisher'))
    expect(pub.data.relays).toEqual([expect.objectContaining({ serverId: 'relay-1', state: 'online', publisherActive: true, connectedStages: 1 })])
    expect(pub.data.relays[0].ageMs).toBeGreaterThanOrEqual(0)
    const events = await server.store.readEvents(null, 100)
    expect(events.map((e) => e.type)).toContain('publisher_state')
  })

  test('two relays: publisher state follows the live one; the silent one goes offline after MEDIA_SERVER_TIMEOUT_MS (the leader, on a manual clock)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
    const ticker = new ManualTicker()
    const server = await startTestServer({ MEDIA_SERVER_TIMEOUT_MS: '90000' }, { clock, ticker })
    try {
      const beat = (serverId: string, publisherActive: boolean) =>
        server.api('/api/media/heartbeat', { method: 'POST', json: { serverId, publisherActive, connectedStages: 1 } })
      for (const serverId of ['relay-a', 'relay-b'])
        await server.api('/api/media/register', { method: 'POST', json: { serverId, ipAddress: 'localhost', port: 3001 } })
      await beat('relay-a', true)
      await beat('relay-b', false) // the last heartbeat, from the relay without the publisher, does not turn it off
      expect((await body(await server.api('/api/stats/publisher'))).data).toMatchObject({ active: true, serverId: 'relay-a' })
      clock.advance(60_000)
      await beat('relay-b', false)
      clock.advance(31_000) // relay-a silent for 91 s
      await beat('relay-b', false)
      await server.loop.tick()
      const publisher = (await body(await server.api('/api/stats/publisher'))).data
      expect(publisher.active).toBe(false)
      expect(publisher.relays.map((r: { serverId: string; state: string; ageMs: number }) => [r.serverId, r.state, r.ageMs])).toEqual([
        ['relay-a', 'offline', 91_000],
        ['relay-b', 'online', 0],
      ])
      const events = (await server.store.readEvents(null, 100)).map((e) => [e.type, e.type === 'publisher_state' ? e.data.active : e.data.serverId])
      // relay-b's heartbeat at 91 s already no longer counts relay-a (publisher off, nobody feeds); the
      // leader's round then marks relay-a offline and says so, once.
      expect(events).toEqual([
        ['publisher_state', true],
        ['feeding_relay', 'relay-a'],
        ['publisher_state', false],
        ['feeding_relay', null],
        ['media_server_offline', 'relay-a'],
      ])
      await server.loop.tick() // once: no second offline event
      expect((await server.store.readEvents(null, 100)).filter((e) => e.type === 'media_server_offline').length).toBe(1)
    } finally {
      await server.stop()
    }
  })

  test('one feeding relay: GET /api/media/stages?serverId= says whether that relay feeds; the newest publisher takes the stages; /api/stats/publisher names it', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
    const server = await startTestServer({ MEDIA_SERVER_TIMEOUT_MS: '90000', MEDIA_SERVER_SECRET: MEDIA_SECRET }, { clock, ticker: new ManualTicker() })
    try {
      const beat = (serverId: string, publisherAgeMs: number | null) =>
        server.api('/api/media/heartbeat', {
          method: 'POST',
          headers: media,
          json: { serverId, publisherActive: publisherAgeMs !== null, connectedStages: [], publisherAgeMs },
        })
      const asked = async (serverId: string) => (await body(await server.api(`/api/media/stages?serverId=${serverId}`))).data
      for (const serverId of ['relay-a', 'relay-b'])
        await server.api('/api/media/register', { method: 'POST', headers: media, json: { serverId, ipAddress: 'localhost', port: 3001 } })
      // Without ?serverId= the answer is the original media server's: the stages alone.
      expect(Object.keys((await body(await server.api('/api/media/stages'))).data)).toEqual(['stages'])
      expect(await asked('relay-a')).toMatchObject({ feeding: false, feedingRelay: null, stages: [expect.objectContaining({ isMaster: true })] })
      expect((await beat('relay-a', 0)).status).toBe(200)
      expect(await asked('relay-a')).toMatchObject({ feeding: true, feedingRelay: 'relay-a' })
      clock.advance(20_000)
      // The broadcaster reconnects to relay-b; relay-a has not noticed yet (it still reports its publisher, 20 s old).
      await beat('relay-b', 100)
      await beat('relay-a', 20_000)
      expect(await asked('relay-a')).toMatchObject({ feeding: false, feedingRelay: 'relay-b' })
      expect(await asked('relay-b')).toMatchObject({ feeding: true, feedingRelay: 'relay-b' })
      const publisher = (await body(await server.api('/api/stats/publisher'))).data
      expect(publisher).toMatchObject({ active: true, serverId: 'relay-b', feedingRelay: 'relay-b' })
      expect(publisher.relays.map((r: { serverId: string; feeding: boolean; publisherSince: string }) => [r.serverId, r.feeding, r.publisherSince])).toEqual([
        ['relay-a', false, new Date(Date.UTC(2026, 11, 1, 12)).toISOString()],
        ['relay-b', true, new Date(Date.UTC(2026, 11, 1, 12) + 19_900).toISOString()],
      ])
      const events = (await server.store.readEvents(null, 100)).filter((e) => e.type === 'feeding_relay').map((e) => e.data.serverId)
      expect(events).toEqual(['relay-a', 'relay-b'])
      // A bad age or serverId is a 400; a wrong x-media-auth is still refused with the query.
      expect((await beat('relay-a', -1)).status).toBe(400)
      expect((await server.api('/api/media/stages?serverId=not%20an%20id')).status).toBe(400)
      expect((await server.api('/api/media/stages?serverId=relay-a', { headers: { 'x-media-auth': 'wrong-secret-value-123' } })).status).toBe(403)
    } finally {
      await server.stop()
    }
  })
})
