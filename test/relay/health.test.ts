import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { loadRelayConfig } from '../../relay/config'
import type { LinkState } from '../../relay/control/link'
import type { StageSessionState } from '../../relay/egress/stage-session'
import { assess, SERVICE } from '../../relay/http/health'
import { type RelayHandle, startRelay } from '../../relay/main'
import { createLogger, silentLogger } from '../../src/log'
import { VERSION } from '../../src/version'
import { eventually } from '../support/eventually'
import { freePort } from '../support/process'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'
import { startTestServer, type TestServer } from '../support/serve'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

const API = 'http://127.0.0.1:1'
const link = (over: Partial<LinkState> = {}): LinkState => ({
  apiServerUrl: API,
  registered: true,
  following: true,
  lastRegistrationError: null,
  ...over,
})
const okCheck = { api: { ok: true, kind: 'http', latencyMs: 1 } }
const badCheck = { api: { ok: false, kind: 'http', latencyMs: 1, error: 'API server not reachable: refused' } }
const stage = (state: StageSessionState, lastError: string | null = null) => ({ stageArn: `arn:${state}`, state, lastError })

describe('status and readiness rules (pure)', () => {
  test('healthy: registered, following, checks pass, no stage in backoff (a first connect is on its way)', () => {
    expect(assess(link(), okCheck, [stage('live'), stage('connecting')])).toEqual({
      status: 'healthy',
      reasons: [],
      notReady: [],
      publicReasons: [],
      publicNotReady: [],
    })
    expect(assess(link(), {}, []).status).toBe('healthy')
    // A stage that carries no media (a local stage) is nothing to fix at the relay: still healthy and ready.
    expect(assess(link(), okCheck, [stage('no-media'), stage('live')])).toEqual(assess(link(), okCheck, [stage('live')]))
  })

  test('degraded: a stage session in backoff, after any failure or refusal (still ready), or the event socket closed (not ready)', () => {
    const backoff = assess(link(), okCheck, [stage('live'), stage('backoff', 'WHIP POST answered 503')])
    expect(backoff.status).toBe('degraded')
    expect(backoff.notReady).toEqual([])
    expect(backoff.reasons).toEqual(['stage session arn:backoff is backoff: WHIP POST answered 503'])
    // Without the error text for callers with no credential.
    expect(backoff.publicReasons).toEqual(['stage session arn:backoff is backoff'])
    // A refusal by the WHIP endpoint is retried like any failure: backoff too, the cause in lastError.
    expect(assess(link(), okCheck, [stage('backoff', 'WHIP POST answered 403')]).status).toBe('degraded')
    // Connecting again after a failure is part of the retry cycle, not a fresh start.
    const retrying = assess(link(), okCheck, [stage('connecting', 'peer connection closed')])
    expect(retrying.status).toBe('degraded')
    expect(retrying.reasons).toEqual(['stage session arn:connecting is reconnecting: peer connection closed'])
    const deaf = assess(link({ following: false }), okCheck, [stage('live')])
    expect(deaf.status).toBe('degraded')
    expect(deaf.notReady).toEqual([`not following the API server's events (its /ws?type=media-server socket at ${API} is not open)`])
  })

  test('unhealthy: not registered (with the last error), or the API server check fails', () => {
    const never = assess(link({ registered: false, following: false, lastRegistrationError: 'API server not reachable: refused' }), badCheck, [])
    expect(never.status).toBe('unhealthy')
    expect(never.notReady[0]).toBe(`not registered with the API server at ${API}: API server not reachable: refused`)
    expect(never.notReady).toHaveLength(3)
    expect(assess(link({ registered: false }), okCheck, []).notReady[0]).toContain('the first registration has not completed yet')
    const checkDown = assess(link(), badCheck, [stage('live')])
    expect(checkDown.status).toBe('unhealthy')
    expect(checkDown.notReady).toEqual(['the api check failed: API server not reachable: refused'])
    // The public versions name the state, never the API server's address or an error text.
    expect(never.publicNotReady).toEqual(['not registered with the API server', "not following the API server's events", 'the api check failed'])
    expect(never.publicReasons).toEqual(never.publicNotReady)
  })
})

const getJson = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers })
  return { status: res.status, body: await res.json() }
}

/** The original media server's fields at the top level, and the same report (plus detail) in `data`. */
function expectDocumentedShape(body: Record<string, unknown>, serverId: string) {
  expect(body.success).toBe(true)
  expect(typeof body.timestamp).toBe('string')
  expect(new Date(body.timestamp as string).toISOString()).toBe(body.timestamp as string)
  expect(['healthy', 'degraded', 'unhealthy']).toContain(body.status as string)
  expect(body.service).toBe(SERVICE)
  expect(body.version).toBe(VERSION)
  expect(body.serverId).toBe(serverId)
  expect(typeof body.uptime).toBe('number')
  expect(Object.keys(body.stats as object).sort()).toEqual(['activeConnections', 'connectedStages', 'publisherActive'])
  const data = body.data as Record<string, unknown>
  for (const key of ['status', 'service', 'version', 'serverId', 'stats', 'feeding']) expect(data[key]).toEqual(body[key])
  // One feeding relay (issue 21): beside the original body's stats, not inside.
  expect(typeof body.feeding).toBe('boolean')
  expect(data.feedingRelay === null || typeof data.feedingRelay === 'string').toBe(true)
  expect(typeof data.registered).toBe('boolean')
  expect(typeof data.followingEvents).toBe('boolean')
  expect(data.checks).toBeDefined()
  expect(Array.isArray(data.stages)).toBe(true)
}

describe('/health body (serve + relay + WHIP stage endpoint)', () => {
  let stack: RelayStack
  let master: string
  beforeAll(async () => {
    stack = await startRelayStack()
    master = (await stack.serve.stages.master()).arn
    await eventually('master stage live', () => stack.relay.fanout.liveStages().includes(master), 10_000)
  }, 20_000)
  afterAll(() => stack?.stop())

  test('healthy with one live stage and no publisher; still an envelope; /health/ready 200', async () => {
    await eventually('event socket open', () => stack.relay.link.following, 5_000)
    const { status, body } = await getJson(`${stack.relay.url}/health`)
    expect(status).toBe(200)
    expectDocumentedShape(body, 'relay-test')
    expect(body.status).toBe('healthy')
    expect(body.stats).toEqual({ publisherActive: false, connectedStages: 1, activeConnections: 1 })
    expect(body.data).toMatchObject({ registered: true, followingEvents: true, reasons: [], mode: 'relay', publisher: { active: false } })
    // The stack's relay feeds without a publisher (feedWithoutPublisher); serve names no feeding relay.
    expect([body.feeding, body.data.feedingRelay]).toEqual([true, null])
    expect(body.data.checks.api.ok).toBe(true)
    expect(body.data.stages).toEqual([expect.objectContaining({ stageArn: master, state: 'live', connects: 1 })])
    expect((await fetch(`${stack.relay.url}/health/ready`)).status).toBe(200)
    const live = await getJson(`${stack.relay.url}/health/live`)
    expect(live.status).toBe(200)
    expect(live.body.data).toMatchObject({ status: 'ok', mode: 'relay', version: VERSION })
  })

  test('a publisher and a second live stage: publisherActive, connectedStages 2, activeConnections 3, packets counted', async () => {
    const extra = (await (await stack.serve.api('/api/stage', { method: 'POST', json: {} })).json()).data.stageArn as string
    const publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await publisher.start()
    try {
      await eventually('both stages live', () => [master, extra].every((a) => stack.relay.fanout.liveStages().includes(a)), 10_000)
      await eventually('packets forwarded to both stages', () => stack.relay.fanout.stageSnapshots().every((s) => s.packetsForwarded > 10), 10_000)
      // serve names the relay holding the publisher as the feeding relay.
      await eventually('named the feeding relay', async () => (await getJson(`${stack.relay.url}/health`)).body.data.feedingRelay === 'relay-test', 5_000)
      const { body } = await getJson(`${stack.relay.url}/health`, { 'x-api-key': stack.serve.apiKey })
      expect(body.feeding).toBe(true)
      expectDocumentedShape(body, 'relay-test')
      expect(body.status).toBe('healthy')
      expect(body.stats).toEqual({ publisherActive: true, connectedStages: 2, activeConnections: 3 })
      expect(body.data.publisher).toMatchObject({ active: true, session: stack.relay.fanout.publisherSession!.id })
      expect(body.data.stages).toHaveLength(2)
      for (const s of body.data.stages) {
        expect(s.state).toBe('live')
        expect(s.packetsForwarded).toBeGreaterThan(0)
        expect(s.bytesForwarded).toBeGreaterThan(s.packetsForwarded)
        expect(typeof s.keyframeRequests).toBe('number')
        expect(s.connects).toBeGreaterThanOrEqual(1)
      }
    } finally {
      await publisher.stop()
      await stack.serve.api(`/api/stage/${encodeURIComponent(extra)}`, { method: 'DELETE' })
      await eventually('extra stage dropped', () => !stack.relay.fanout.stageSnapshots().some((s) => s.stageArn === extra), 5_000)
    }
    const after = (await getJson(`${stack.relay.url}/health`)).body
    expect(after.stats).toEqual({ publisherActive: false, connectedStages: 1, activeConnections: 1 })
  }, 30_000)

  test('degraded (200, still ready) while a stage session is in backoff, healthy again once it is back', async () => {
    stack.whip.kill(master, 3_000)
    let seen: Record<string, any> | null = null
    await eventually(
      'degraded',
      async () => {
        const { status, body } = await getJson(`${stack.relay.url}/health`, { 'x-api-key': stack.serve.apiKey })
        expect(status).toBe(200)
        if (body.status === 'degraded') seen = body
        return seen !== null
      },
      8_000,
    )
    expectDocumentedShape(seen!, 'relay-test')
    expect(seen!.stats.connectedStages).toBe(0)
    expect(seen!.data.reasons.join(' ')).toMatch(new RegExp(`stage session ${master} is (backoff|reconnecting): `))
    expect((await fetch(`${stack.relay.url}/health/ready`)).status).toBe(200)
    await eventually('healthy again', async () => (await getJson(`${stack.relay.url}/health`)).body.status === 'healthy', 10_000)
    expect(stack.relay.fanout.liveStages()).toEqual([master])
  }, 25_000)
})

describe('/health/ready follows registration and the event socket', () => {
  let whip: WhipEndpoint
  let relay: RelayHandle
  let serve: TestServer | null = null
  let apiPort: number
  const API_KEY = 'test-api-key-0123456789abcdef'
  const MEDIA_SECRET = 'media-secret-0123456789'
  const startServeOnApiPort = () =>
    startTestServer({ LOCAL_WHIP_URL: whip.url, MEDIA_SERVER_SECRET: MEDIA_SECRET, API_SECRET_KEY: API_KEY, API_PORT: String(apiPort) })
  const ready = (headers: Record<string, string> = {}) => getJson(`${relay.url}/health/ready`, headers)

  beforeAll(async () => {
    whip = await startWhipEndpoint()
    apiPort = await freePort() // nothing listens here until a test starts serve on it
    const config = loadRelayConfig(
      {
        API_PORT: '0',
        API_SERVER_URL: `http://127.0.0.1:${apiPort}`,
        API_SECRET_KEY: API_KEY,
        MEDIA_SERVER_SECRET: MEDIA_SECRET,
        PUBLISH_SECRET,
        SERVER_ID: 'relay-ready',
        HEARTBEAT_INTERVAL: '1000',
      },
      'test',
    )
    if (!config.ok) throw new Error(config.errors.join('; '))
    relay = await startRelay({
      config: config.config,
      logger: process.env.TEST_LOG ? createLogger('debug', { mode: 'relay' }) : silentLogger,
      bindAddress: '127.0.0.1',
      backoff: { baseMs: 100, capMs: 1_000 },
      controlBackoff: { baseMs: 50, capMs: 300 },
      feedbackTimeoutMs: 2_000,
      mediaTimeoutMs: 1_500,
      // A live stage without a publisher is what these tests look at.
      feedWithoutPublisher: true,
    })
  })
  afterAll(async () => {
    await relay?.stop()
    await serve?.stop()
    await whip?.stop()
  })

  test('503 UPSTREAM_UNAVAILABLE naming the API server and the registration error (for the API key) while it is unreachable; /health says unhealthy', async () => {
    // Without a credential: the state, not the API server's address nor its error text.
    const open = await ready()
    expect(open.status).toBe(503)
    expect(open.body.error.code).toBe('UPSTREAM_UNAVAILABLE')
    expect(open.body.error.message).toBe("not registered with the API server; not following the API server's events; the api check failed")
    expect(open.body.error.details.health).toMatchObject({ registered: false, followingEvents: false, status: 'unhealthy', view: 'public' })
    expect(JSON.stringify(open.body)).not.toContain(String(apiPort))
    expect(JSON.stringify(open.body)).not.toContain('not reachable')
    const { status, body } = await ready({ 'x-api-key': API_KEY })
    expect(status).toBe(503)
    expect(body.success).toBe(false)
    expect(body.error.code).toBe('UPSTREAM_UNAVAILABLE')
    expect(body.error.message).toContain(`not registered with the API server at http://127.0.0.1:${apiPort}: API server not reachable`)
    expect(body.error.message).toContain("not following the API server's events")
    expect(body.error.details.reasons.length).toBeGreaterThanOrEqual(2)
    expect(body.error.details.health).toMatchObject({ registered: false, followingEvents: false, status: 'unhealthy' })
    expect(body.error.details.health.lastRegistrationError).toContain('API server not reachable')
    const health = await getJson(`${relay.url}/health`)
    expect(health.status).toBe(200)
    expectDocumentedShape(health.body, 'relay-ready')
    expect(health.body.status).toBe('unhealthy')
    expect(health.body.stats).toEqual({ publisherActive: false, connectedStages: 0, activeConnections: 0 })
    expect((await fetch(`${relay.url}/health/live`)).status).toBe(200)
  })

  test('200 once the API server is up and the relay has registered and follows its events', async () => {
    serve = await startServeOnApiPort()
    await eventually('ready', async () => (await ready()).status === 200, 10_000)
    expect(relay.link).toMatchObject({ registered: true, following: true, lastRegistrationError: null })
    const master = (await serve.stages.master()).arn
    await eventually('master stage live', () => relay.fanout.liveStages().includes(master), 10_000)
    await eventually('healthy', async () => (await getJson(`${relay.url}/health`)).body.status === 'healthy', 5_000)
    const relays = (await (await serve.api('/api/stats/publisher')).json()).data.relays.map((r: { serverId: string }) => r.serverId)
    expect(relays).toContain('relay-ready')
  }, 20_000)

  test('503 "not following" when the event socket drops with the API server; 200 again after it is back (and re-registered)', async () => {
    await serve!.stop()
    serve = null
    await eventually('not ready', async () => (await ready()).status === 503, 5_000)
    const { body } = await ready()
    expect(body.error.code).toBe('UPSTREAM_UNAVAILABLE')
    expect(body.error.message).toContain("not following the API server's events")
    // The media path does not depend on the API server: the stage stays live.
    expect(relay.fanout.liveStages()).toHaveLength(1)
    // A fresh API server (memory store: it has forgotten the relay) on the same address.
    serve = await startServeOnApiPort()
    await eventually('ready again', async () => (await ready()).status === 200, 10_000)
    await eventually(
      'the new API server knows the relay again',
      async () => (await (await serve!.api('/api/stats/publisher')).json()).data.relays.some((r: { serverId: string }) => r.serverId === 'relay-ready'),
      5_000,
    )
    expect(relay.link).toMatchObject({ registered: true, following: true })
  }, 30_000)
})

describe('/health: counts and states for anyone, details for the API key or METRICS_TOKEN', () => {
  const METRICS_TOKEN = 'metrics-token-0123456789abcdef'
  let stack: RelayStack
  let master: string
  let publisher: TestPublisher
  const health = (headers: Record<string, string> = {}) => getJson(`${stack.relay.url}/health`, headers)
  beforeAll(async () => {
    stack = await startRelayStack({ relayEnv: { METRICS_TOKEN, AUTH_FAILURE_LIMIT: '3' } })
    master = (await stack.serve.stages.master()).arn
    await eventually('master stage live', () => stack.relay.fanout.liveStages().includes(master), 10_000)
    publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await publisher.start()
  }, 20_000)
  afterAll(async () => {
    await publisher?.stop()
    await stack?.stop()
  })

  test('without a credential: no session id, no remote error text, no API server address; with the API key or METRICS_TOKEN: all of it', async () => {
    const session = stack.relay.fanout.publisherSession!.id
    // The stage endpoint refuses for a while: the stage session's lastError is the endpoint's own text.
    stack.whip.kill(master, 4_000)
    await eventually(
      "the endpoint's refusal in lastError",
      async () => ((await health({ 'x-api-key': stack.serve.apiKey })).body.data.stages[0]?.lastError ?? '').includes('stage endpoint unavailable'),
      8_000,
    )
    const { status, body } = await health()
    expect(status).toBe(200)
    expectDocumentedShape(body, 'relay-test')
    const text = JSON.stringify(body)
    for (const secret of [session, 'stage endpoint unavailable', stack.serve.url, 'WHIP endpoint answered']) expect(text).not.toContain(secret)
    const data = body.data
    expect(data.view).toBe('public')
    expect(data.status).toBe('degraded')
    expect(data).toMatchObject({ mode: 'relay', registered: true, followingEvents: true, checks: { api: { ok: true } } })
    expect(data.publisher).toMatchObject({ active: true, state: 'connected' })
    expect(data.publisher.session).toBeUndefined()
    expect(typeof data.publisher.packetsIn).toBe('number')
    expect(data.stageCounts).toMatchObject({ total: 1, live: 0 })
    expect(data.stageCounts.backoff + data.stageCounts.connecting).toBe(1)
    expect(data.stages).toEqual([expect.objectContaining({ stageArn: master })])
    expect(data.stages[0].lastError).toBeUndefined()
    expect(data.reasons).toEqual([expect.stringMatching(new RegExp(`^stage session ${master} is (backoff|reconnecting)$`))])
    expect(typeof data.pacing.bitsPerSecond).toBe('number')
    expect(data.apiServer).toBeUndefined()
    expect(data.lastRegistrationError).toBeUndefined()
    for (const headers of [{ 'x-api-key': stack.serve.apiKey }, { authorization: `Bearer ${METRICS_TOKEN}` }] as Record<string, string>[]) {
      const full = await health(headers)
      expect(full.status).toBe(200)
      expect(full.body.data).toMatchObject({ view: 'full', apiServer: stack.serve.url, publisher: { active: true, session } })
      const detail = JSON.stringify(full.body)
      expect(detail).toContain(session)
      expect(detail).toContain(stack.serve.url)
    }
    await eventually('live again', () => stack.relay.fanout.liveStages().includes(master), 10_000)
  }, 25_000)

  test('a wrong credential is 401 and counts against the guess budget shared with /whip and /metrics; no credential stays public', async () => {
    const wrong: Record<string, string>[] = [
      { 'x-api-key': 'not-the-api-key-0123456789' },
      { authorization: 'Bearer not-the-metrics-token' },
      { authorization: 'Basic Zm9vOmJhcg==' },
    ]
    for (const headers of wrong) {
      const { status, body } = await health(headers)
      expect(status).toBe(401)
      expect(body.error.code).toBe('UNAUTHORIZED')
    }
    // AUTH_FAILURE_LIMIT is 3: by the fourth failure the address is locked out (429 once it is), on every guarded route.
    expect([401, 429]).toContain((await health({ 'x-api-key': 'wrong-again-0123456789' })).status)
    const locked = await fetch(`${stack.relay.url}/metrics`, { headers: { 'x-api-key': stack.serve.apiKey } })
    expect(locked.status).toBe(429)
    const whip = await fetch(`${stack.relay.url}/whip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PUBLISH_SECRET}`, 'content-type': 'application/sdp' },
      body: 'v=0',
    })
    expect(whip.status).toBe(429)
    const lockedHealth = await health({ 'x-api-key': stack.serve.apiKey })
    expect([lockedHealth.status, lockedHealth.body.error.code]).toEqual([429, 'RATE_LIMITED'])
    // Counts and states for a load balancer even meanwhile.
    const open = await health()
    expect(open.status).toBe(200)
    expect(open.body.data.view).toBe('public')
    await Bun.sleep(1_200) // the first lock-out lasts 1 s
    expect((await health({ 'x-api-key': stack.serve.apiKey })).status).toBe(200)
  }, 15_000)
})
