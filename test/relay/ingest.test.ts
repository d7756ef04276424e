import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eventually } from '../support/eventually'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'

let stack: RelayStack
beforeAll(async () => {
  stack = await startRelayStack()
}, 20_000)
afterAll(() => stack?.stop())

const whip = (init: RequestInit & { headers?: Record<string, string> }) => fetch(`${stack.relay.url}/whip`, init)
const auth = { authorization: `Bearer ${PUBLISH_SECRET}` }
const sdp = { 'content-type': 'application/sdp' }
const VP8_ONLY = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n'

describe('WHIP ingest', () => {
  test('CORS preflight for browsers', async () => {
    const res = await fetch(`${stack.relay.url}/whip`, {
      method: 'OPTIONS',
      headers: { origin: 'http://example.test', 'access-control-request-method': 'POST' },
    })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(res.headers.get('access-control-allow-methods')).toContain('POST')
    expect(res.headers.get('access-control-allow-headers')).toContain('Authorization')
    expect(res.headers.get('access-control-expose-headers')).toContain('Location')
  })

  test('refused: no or wrong secret 401, wrong content type 400, no H.264 400, not SDP 400', async () => {
    expect((await whip({ method: 'POST', headers: sdp, body: VP8_ONLY })).status).toBe(401)
    expect((await whip({ method: 'POST', headers: { ...sdp, authorization: 'Bearer nope' }, body: VP8_ONLY })).status).toBe(401)
    const json = await whip({ method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' })
    expect(json.status).toBe(400)
    expect((await json.json()).error.message).toContain('application/sdp')
    const vp8 = await whip({ method: 'POST', headers: { ...auth, ...sdp }, body: VP8_ONLY })
    expect(vp8.status).toBe(400)
    const body = await vp8.json()
    expect(body.error.code).toBe('VALIDATION_ERROR')
    expect(body.error.message).toContain('H.264')
    expect((await whip({ method: 'POST', headers: { ...auth, ...sdp }, body: 'not sdp at all' })).status).toBe(400)
    expect(stack.relay.fanout.publisherActive).toBe(false)
  })

  test('201 with answer, Location and ETag; a second publisher gets 409; PATCH 405; DELETE ends the session', async () => {
    const first = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await first.start()
    expect(stack.relay.fanout.publisherActive).toBe(true)
    const second = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await expect(second.start()).rejects.toThrow('409')
    await second.stop(false)
    const session = stack.relay.fanout.publisherSession!
    const patch = await fetch(`${stack.relay.url}/whip/${session.id}`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/trickle-ice-sdpfrag' },
      body: 'a=candidate:1',
    })
    expect(patch.status).toBe(405)
    expect((await patch.json()).error.code).toBe('METHOD_NOT_ALLOWED')
    expect((await fetch(`${stack.relay.url}/whip/unknown`, { method: 'DELETE', headers: auth })).status).toBe(404)
    expect((await fetch(`${stack.relay.url}/whip/${session.id}`, { method: 'DELETE' })).status).toBe(401)
    await first.stop(true) // DELETE on its Location
    expect(stack.relay.fanout.publisherActive).toBe(false)
    // The slot is free again.
    const third = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await third.start()
    expect(stack.relay.fanout.publisherActive).toBe(true)
    await third.stop(true)
  }, 20_000)

  test("GET on the session: the publisher's measured keyframe interval and ingest figures, for the publish secret only", async () => {
    // The clip has a keyframe every 30 frames at 30 fps; this publisher ignores PLI, as OBS does.
    const publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await publisher.start()
    try {
      const session = stack.relay.fanout.publisherSession!
      const url = `${stack.relay.url}/whip/${session.id}`
      await eventually('two keyframes measured', () => session.keyframeIntervalMs !== null, 5_000)
      const res = await fetch(url, { headers: auth })
      expect(res.status).toBe(200)
      const { data } = await res.json()
      expect(data.session).toBe(session.id)
      expect(data.keyframeIntervalMs).toBe(1000)
      expect(data.ingest).toMatchObject({ gaps: 0, missing: 0, unrepaired: 0 })
      expect(data.ingest.received).toBeGreaterThan(0)
      // /health shows the same, and the page shows it (it reads this route).
      const health = (await (await fetch(`${stack.relay.url}/health`)).json()).data
      expect(health.publisher.keyframeIntervalMs).toBe(1000)
      const metrics = await (await fetch(`${stack.relay.url}/metrics`, { headers: { 'x-api-key': stack.serve.apiKey } })).text()
      expect(metrics).toContain('ivs_fanout_relay_publisher_keyframe_interval_seconds 1')
      expect(metrics).toMatch(/ivs_fanout_relay_ingest_repaired_total 0/)
      // Abuse: no secret, a wrong one, another session, an oversized id.
      expect((await fetch(url)).status).toBe(401)
      expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
      const other = await fetch(`${stack.relay.url}/whip/not-this-one`, { headers: auth })
      expect([other.status, (await other.json()).error.code]).toEqual([404, 'NOT_FOUND'])
      const long = await fetch(`${stack.relay.url}/whip/${'x'.repeat(65)}`, { headers: auth })
      expect([long.status, (await long.json()).error.code]).toEqual([400, 'VALIDATION_ERROR'])
      const script = await (await fetch(`${stack.relay.url}/publish.js`)).text()
      expect(script).toContain('keyframeIntervalMs')
    } finally {
      await publisher.stop(true)
    }
  }, 20_000)

  test('the browser publisher page is served', async () => {
    const res = await fetch(`${stack.relay.url}/publish`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    const html = await res.text()
    expect(html).toContain('<script src="/publish.js"></script>')
    const script = await fetch(`${stack.relay.url}/publish.js`)
    expect(script.headers.get('content-type')).toContain('text/javascript')
    const code = await script.text()
    expect(code).toContain('getUserMedia')
    expect(code).toContain("fetch('/whip'")
    const style = await fetch(`${stack.relay.url}/publish.css`)
    expect(style.headers.get('content-type')).toContain('text/css')
  })
})

describe('graceful stop', () => {
  test('WHIP DELETE on every stage session, then the relay is gone', async () => {
    const own = await startRelayStack()
    const master = (await own.serve.stages.master()).arn
    const extra = (await (await own.serve.api('/api/stage', { method: 'POST', json: {} })).json()).data.stageArn
    await eventually('stages live', () => [master, extra].every((a) => own.relay.fanout.liveStages().includes(a)), 10_000)
    await own.relay.stop()
    expect(own.whip.record(master).deletes).toBe(1)
    expect(own.whip.record(extra).deletes).toBe(1)
    expect(
      await fetch(`${own.relay.url}/health/live`).then(
        () => 'up',
        () => 'down',
      ),
    ).toBe('down')
    await own.serve.stop()
    await own.whip.stop()
  }, 20_000)
})

describe('control plane', () => {
  test('a stage the relay never heard about is picked up by the periodic full sync', async () => {
    // Added straight to the store: no stage_created event goes out.
    const created = await stack.serve.provider.createStage({ name: 'silent', tags: {} })
    await stack.serve.store.addStage(
      {
        arn: created.arn,
        name: 'silent',
        isMaster: false,
        status: 'active',
        seq: 99,
        createdAt: Date.now(),
        drainingSince: null,
        tags: {},
        endpoints: created.endpoints,
      },
      100,
    )
    // STAGE_SYNC_INTERVAL is 2 s in the test stack.
    await eventually('relay syncs the silent stage', () => stack.relay.fanout.liveStages().includes(created.arn), 8_000)
  }, 15_000)

  test('the event socket reconnects after the API server drops it, and events flow again', async () => {
    await eventually('relay socket connected', () => stack.serve.hub.count('media-server') === 1, 5_000)
    stack.serve.hub.closeAll(1001, 'test drops sockets')
    await eventually('relay reconnected', () => stack.serve.hub.count('media-server') === 1, 10_000)
    const arn = (await (await stack.serve.api('/api/stage', { method: 'POST', json: {} })).json()).data.stageArn
    // Via the event, well before the next periodic sync could matter.
    await eventually('relay connects the new stage', () => stack.relay.fanout.stageSnapshots().some((s) => s.stageArn === arn), 1_500)
  }, 20_000)

  test('the WHIP answer carries Location and ETag', async () => {
    const publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    const seen: Response[] = []
    const realFetch = globalThis.fetch
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const res = await realFetch(input, init)
      if (String(input).endsWith('/whip')) seen.push(res.clone())
      return res
    }) as typeof fetch
    try {
      await publisher.start()
    } finally {
      globalThis.fetch = realFetch
    }
    expect(seen[0]!.status).toBe(201)
    expect(seen[0]!.headers.get('content-type')).toBe('application/sdp')
    expect(seen[0]!.headers.get('location')).toMatch(/^\/whip\/[A-Za-z0-9]+$/)
    expect(seen[0]!.headers.get('etag')).toMatch(/^"[A-Za-z0-9]+"$/)
    await publisher.stop()
  }, 15_000)
})
