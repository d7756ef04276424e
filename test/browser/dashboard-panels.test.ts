/**
 * The dashboard as the operator on call sees it, in headless Chromium, against real processes:
 * `serve` in AWS mode against the IVS test server (so IVS calls are counted), a `relay` process
 * feeding the stages (WHIP into the stage endpoint double, which joins its participants on the IVS
 * test server), a broadcaster publishing into the relay through a lossy path (3 % of its RTP lost,
 * repaired by NACK), viewers seated on two stages. Every panel must show what the API says
 * (test/support/dashboard-panels.ts): viewers, seats against the ceiling and IVS_MAX_SUBSCRIPTIONS,
 * stages, publisher and feeding relay, the chart (axis titles, clock-time labels, a count scale, the
 * viewers line ending at /api/stats' count, "since" while under an hour), the relays (the feeding
 * one marked, its loss, repairs, keyframe interval, stage sessions by state), IVS calls (totals and
 * per operation), each stage's feed. The same check must flag each panel when it is blanked in the
 * page. Screenshot: test-results/dashboard.png.
 */
import { afterAll, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { launchChromium } from '../support/chromium'
import { type ApiView, PANELS, type PanelReading, panelProblems, snapshotScript } from '../support/dashboard-panels'
import { eventually } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { awsModeEnv, type IvsServer, startIvsServer } from '../support/ivs-server'
import { candidatesAt, hostCandidate, type LossyPath, startLossyPath, withoutCandidates } from '../support/lossy-path'
import { BUN, bareEnv, freePort, type Spawned, spawnProcess } from '../support/process'
import { TestPublisher } from '../support/publisher'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

const API_KEY = 'dashboard-panels-api-key-0123456789'
const MEDIA_SECRET = 'dashboard-panels-media-secret-0123'
const PUBLISH_SECRET = 'dashboard-panels-publish-secret-01'
const VIEWERS = 6

let browser: Browser
let ivs: IvsServer
let whip: WhipEndpoint
let path: LossyPath | null = null
let publisher: TestPublisher | null = null
const processes: Spawned[] = []
let serveUrl = ''
let relayUrl = ''

async function ready(url: string, what: string, p: Spawned): Promise<void> {
  await eventually(
    `${what} ready`,
    () => {
      if (p.proc.exitCode !== null) throw new Error(`${what} exited ${p.proc.exitCode}: ${p.stderr()}${p.stdout()}`)
      return fetch(`${url}/health/ready`).then(
        (r) => r.status === 200,
        () => false,
      )
    },
    20_000,
    100,
  )
}

const api = async (route: string, init: RequestInit = {}) => {
  const res = await fetch(`${serveUrl}${route}`, { ...init, headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', ...init.headers } })
  if (!res.ok) throw new Error(`${route} answered ${res.status}: ${await res.text()}`)
  return (await res.json()).data
}

async function apiView(): Promise<ApiView> {
  const [stats, publisher, ivs, history] = await Promise.all(['/api/stats', '/api/stats/publisher', '/api/stats/ivs', '/api/stats/history'].map((r) => api(r)))
  return { stats, publisher, ivs, history }
}

beforeAllOrFail(async () => {
  browser = await launchChromium()
  ivs = await startIvsServer()
  whip = await startWhipEndpoint({ onSession: (arn, token, state) => ivs.control.whipSession(arn, token, state) })
  ivs.control.whipUrl = whip.url
  const servePort = await freePort()
  serveUrl = `http://127.0.0.1:${servePort}`
  const serve = spawnProcess(
    [BUN, 'run', 'src/main.ts', 'serve'],
    bareEnv({
      ...awsModeEnv(ivs),
      API_PORT: String(servePort),
      API_SECRET_KEY: API_KEY,
      MEDIA_SERVER_SECRET: MEDIA_SECRET,
      MAX_STAGES: '5',
      STAGE_CAPACITY: '4',
      SCALE_UP_THRESHOLD: '4',
      SCALE_DOWN_THRESHOLD: '0',
      IVS_MAX_SUBSCRIPTIONS: '1000',
      HEARTBEAT_TIMEOUT_MS: '600000',
      // The test reads the API four times a poll, beside the page's own reads.
      RATE_LIMIT_MAX_REQUESTS: '100000',
      LOG_LEVEL: 'warn',
    }),
  )
  processes.push(serve)
  await ready(serveUrl, 'serve', serve)
  const relayPort = await freePort()
  relayUrl = `http://127.0.0.1:${relayPort}`
  const relay = spawnProcess(
    [BUN, 'run', 'src/main.ts', 'relay'],
    bareEnv({
      API_PORT: String(relayPort),
      API_SERVER_URL: serveUrl,
      API_SECRET_KEY: API_KEY,
      MEDIA_SERVER_SECRET: MEDIA_SECRET,
      SERVER_ID: 'relay-on-call',
      PUBLISH_SECRET,
      HEARTBEAT_INTERVAL: '2000',
      LOG_LEVEL: 'warn',
    }),
  )
  processes.push(relay)
  await ready(relayUrl, 'relay', relay)
}, 60_000)

afterAll(async () => {
  await publisher?.stop().catch(() => {})
  path?.close()
  for (const p of processes) if (p.proc.exitCode === null) p.kill('SIGKILL')
  await Promise.all(processes.map((p) => p.proc.exited))
  await browser?.close()
  await whip?.stop()
  await ivs?.stop()
})

test('every panel shows what the API has for it, and the check flags each panel left empty', async () => {
  // Viewers on two stages (4 seats each), then the broadcaster into the relay through a lossy uplink.
  for (let i = 0; i < VIEWERS; i++) await api('/api/token/viewer', { method: 'POST', body: JSON.stringify({ userId: `on-call-${i}` }) })
  publisher = new TestPublisher(relayUrl, PUBLISH_SECRET, {
    transformOffer: withoutCandidates,
    transformAnswer: async (answer) => {
      // The relay process answers with every interface's address: the path goes to its IPv4 one.
      const ipv4 = answer.match(/^a=candidate:\S+ 1 udp \d+ (\d+\.\d+\.\d+\.\d+) (\d+) typ host/im)
      path = await startLossyPath({ target: ipv4 ? { host: ipv4[1]!, port: Number(ipv4[2]) } : hostCandidate(answer), forward: { loss: 0.03 }, seed: 22 })
      return candidatesAt(answer, path.port)
    },
  })
  await publisher.start()

  // The premise: the API has data for every panel (the relay feeds every stage and has measured its ingest).
  await eventually(
    'the relay reports loss, repairs and a keyframe interval, and feeds every stage',
    async () => {
      const view = await apiView()
      const relay = view.publisher.relays[0]
      return (
        view.publisher.feedingRelay === 'relay-on-call' &&
        relay?.ingest?.keyframeIntervalMs > 0 &&
        relay.ingest.lossRatio > 0 &&
        relay.ingest.repaired > 0 &&
        relay.stageSessions?.live === view.stats.stages.length &&
        view.stats.stages.every((s: { feed: unknown }) => JSON.stringify(s.feed) === '{"kind":"relay"}')
      )
    },
    30_000,
    250,
  )
  const premise = await apiView()
  expect(premise.stats.totalViewers).toBe(VIEWERS)
  expect(premise.stats.stages.length).toBeGreaterThanOrEqual(2)
  expect(premise.ivs.provider).toBe('aws')
  expect(premise.ivs.operations.map((o: { operation: string }) => o.operation)).toEqual(expect.arrayContaining(['CreateStage', 'CreateParticipantToken']))
  expect(premise.history.samples.length).toBeGreaterThanOrEqual(1)

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  // Every request of the page answered (the browser's own favicon request aside).
  page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && errors.push(`${r.status()} ${r.url()}`))
  await page.goto(`${serveUrl}/#key=${encodeURIComponent(API_KEY)}`)
  await page.waitForFunction(() => document.body.dataset.viewers && document.body.dataset.details && document.body.dataset.history, null, { timeout: 15_000 })

  // The page and the API agree (relays report every 2 s and the page reads them every 5 s: retried
  // until one reading of the page matches the API's answers around it).
  let last: { api: ApiView; real: PanelReading[]; blanked: Record<string, PanelReading[]>; problems: string[] } | null = null
  await eventually(
    'every panel of the page shows what the API says',
    async () => {
      const view = await apiView()
      const { real, blanked } = (await page.evaluate(snapshotScript(PANELS))) as { real: PanelReading[]; blanked: Record<string, PanelReading[]> }
      last = { api: view, real, blanked, problems: panelProblems(real, view) }
      return last.problems.length === 0
    },
    25_000,
    250,
  ).catch((error) => {
    throw new Error(`${error}: ${JSON.stringify(last?.problems)}`)
  })
  const { api: view, real, blanked } = last!
  mkdirSync('test-results', { recursive: true })
  await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true })

  // What the page shows, in the words an operator reads.
  const relay = view.publisher.relays[0]
  const relayRow = real.find((r) => r.panel === 'relays')!.fields.filter((f) => f.key === 'relay-on-call')
  const text = (field: string) => relayRow.find((f) => f.field === field)?.text
  console.log(
    `dashboard: ${view.stats.totalViewers} viewers, ${view.stats.seats.used}/${view.stats.seats.open} seats (ceiling ${view.stats.seats.ceiling}), relay loss ${text('lossRatio')}, repaired ${text('repaired')}, keyframe ${text('keyframeIntervalMs')}, IVS ${view.ivs.totals.attempts} attempts`,
  )
  expect(text('feeding')).toBe('feeding')
  expect(text('lossRatio')).toBe(`${(relay.ingest.lossRatio * 100).toFixed(2)} % · ${relay.ingest.missing} missing`)
  expect(text('keyframeIntervalMs')).toBe(`${(relay.ingest.keyframeIntervalMs / 1000).toFixed(1)} s`)
  const chart = real.find((r) => r.panel === 'chart')!.chart!
  expect(chart.titles).toEqual(['count', 'time (local, last 60 min)'])
  expect(chart.xTicks).toHaveLength(5)
  expect(chart.note).toMatch(/^· since \d\d:\d\d/)

  // The same readings, each panel blanked: the check names that panel.
  for (const panel of PANELS) {
    const problems = panelProblems(blanked[panel]!, view)
    expect([panel, problems.some((p) => p.startsWith(`${panel}:`))]).toEqual([panel, true])
    expect(problems.filter((p) => !p.startsWith(`${panel}:`))).toEqual([])
  }
  expect(errors).toEqual([])
  await page.close()
}, 90_000)
