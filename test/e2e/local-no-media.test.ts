/**
 * Local stages carry no media. A relay process following a local serve without LOCAL_WHIP_URL (its
 * own WHIP_ENDPOINT set, as the original media server's .env has it) makes no WHIP attempt at all:
 * it says once per stage why, and /health shows those stages as `no-media` (healthy: nothing is
 * wrong with the relay). When serve comes back with LOCAL_WHIP_URL naming a WHIP endpoint, the
 * relay's next stage sync finds it and every stage goes live.
 */
import { afterAll, afterEach, expect, test } from 'bun:test'
import { NO_MEDIA_NOTICE } from '../../relay/egress/stage-session'
import { MemoryStore } from '../../src/store/memory'
import { eventually } from '../support/eventually'
import { parseLogs } from '../support/fleet-cluster'
import { beforeAllOrFail } from '../support/hooks'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from '../support/process'
import { TestPublisher } from '../support/publisher'
import { startTestServer, type TestServer } from '../support/serve'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

const API_KEY = 'no-media-api-key-0123456789'
let whip: WhipEndpoint
let serve: TestServer | null = null
let relay: Spawned | null = null
let publisher: TestPublisher | null = null

beforeAllOrFail(async () => {
  whip = await startWhipEndpoint()
})
afterEach(async () => {
  await publisher?.stop()
  publisher = null
  if (relay && relay.proc.exitCode === null) relay.kill('SIGKILL')
  await relay?.proc.exited
  relay = null
  await serve?.stop()
  serve = null
})
afterAll(async () => {
  await whip?.stop()
})

interface StageHealth {
  stageArn: string
  state: string
  notice: string | null
}

test('a relay on local stages without LOCAL_WHIP_URL: no WHIP attempt, one notice per stage, healthy; with LOCAL_WHIP_URL after a restart of serve it connects', async () => {
  const store = new MemoryStore()
  const apiPort = await freePort()
  const serveEnv = { API_PORT: String(apiPort), API_SECRET_KEY: API_KEY }
  serve = await startTestServer(serveEnv, { store })
  for (const name of ['second', 'third']) expect((await serve.api('/api/stage', { method: 'POST', json: { name } })).status).toBe(200)
  const arns = (await serve.stages.list()).map((s) => s.arn)
  expect(arns).toHaveLength(3)

  const relayPort = await freePort()
  relay = spawnProcess(
    [BUN, 'run', 'src/main.ts', 'relay'],
    bareEnv({
      API_PORT: String(relayPort),
      API_SERVER_URL: serve.url,
      API_SECRET_KEY: API_KEY,
      SERVER_ID: 'relay-no-media',
      // The original .env names IVS's endpoint here; this one counts the attempts instead.
      WHIP_ENDPOINT: whip.url,
      PUBLISH_SECRET: 'publish-secret-0123456789',
      HEARTBEAT_INTERVAL: '1000',
      // Several syncs in the window: each one asks again, and none may log or connect.
      STAGE_SYNC_INTERVAL: '1000',
      LOG_LEVEL: 'info',
    }),
  )
  const health = async () => (await fetch(`http://127.0.0.1:${relayPort}/health`, { headers: { 'x-api-key': API_KEY } })).json()
  // The relay publishes into the stages only while it holds the broadcaster (one feeding relay).
  await eventually('the relay ready', async () => (await fetch(`http://127.0.0.1:${relayPort}/health/ready`).catch(() => null))?.status === 200, 15_000, 100)
  publisher = new TestPublisher(`http://127.0.0.1:${relayPort}`, 'publish-secret-0123456789')
  await publisher.start()
  await eventually(
    'every stage no-media at the relay',
    async () => {
      const body = await health().catch(() => null)
      return body?.data?.stages?.length === 3 && body.data.stages.every((s: StageHealth) => s.state === 'no-media')
    },
    15_000,
    100,
  )
  await Bun.sleep(3_000)
  const logs = parseLogs(relay.stdout())
  expect(whip.authorizations).toEqual([])
  expect(logs.filter((l) => l.msg === 'stage connection failed')).toEqual([])
  const notices = logs.filter((l) => l.msg === NO_MEDIA_NOTICE)
  expect(notices.map((l) => [l.level, l.stageArn]).sort()).toEqual(arns.map((arn) => ['warn', arn]).sort())
  expect(logs.filter((l) => l.msg === 'stage sync failed')).toEqual([])

  const body = await health()
  expect(body).toMatchObject({ status: 'healthy', stats: { publisherActive: true, connectedStages: 0, activeConnections: 1 }, feeding: true })
  expect(body.data.stageCounts).toEqual({ total: 3, live: 0, connecting: 0, backoff: 0, noMedia: 3 })
  expect(body.data.reasons).toEqual([])
  expect(body.data.notices).toEqual([expect.stringContaining('3 stages are local stages: no media')])
  expect(body.data.notices[0]).toContain('LOCAL_WHIP_URL')
  for (const s of body.data.stages as StageHealth[]) expect(s.notice).toBe(NO_MEDIA_NOTICE)
  // The public view says the same (no secret in it).
  const open = await (await fetch(`http://127.0.0.1:${relayPort}/health`)).json()
  expect(open.data.notices).toEqual(body.data.notices)
  expect((await fetch(`http://127.0.0.1:${relayPort}/health/ready`)).status).toBe(200)
  const metrics = await (await fetch(`http://127.0.0.1:${relayPort}/metrics`, { headers: { 'x-api-key': API_KEY } })).text()
  for (const arn of arns) expect(metrics).toContain(`ivs_fanout_relay_stage_state{stage="${arn}",state="no-media"} 1`)

  // serve again on the same store and port, now with a WHIP endpoint for its local stages.
  await serve.stop()
  serve = await startTestServer({ ...serveEnv, LOCAL_WHIP_URL: whip.url }, { store })
  expect((await serve.stages.list()).map((s) => [s.arn, s.endpoints.whip])).toEqual(arns.map((arn) => [arn, whip.url]))
  await eventually(
    'every stage live at the relay',
    async () => {
      const now = await health().catch(() => null)
      return now?.data?.stages?.length === 3 && now.data.stages.every((s: StageHealth) => s.state === 'live')
    },
    15_000,
    100,
  )
  expect([...whip.stages.keys()].sort()).toEqual([...arns].sort())
  const after = await health()
  expect(after.data.notices).toEqual([])
  expect(after.data.stages.map((s: StageHealth) => s.notice)).toEqual([null, null, null])
  // Still one notice per stage: none at the rechecks, none on the way to live.
  expect(parseLogs(relay.stdout()).filter((l) => l.msg === NO_MEDIA_NOTICE)).toHaveLength(3)
}, 60_000)
