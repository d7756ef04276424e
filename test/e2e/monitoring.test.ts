/**
 * The monitoring that ships, run for real: Debian's Prometheus with docs/monitoring/prometheus.yml
 * (its targets, token file and intervals replaced: 1 s scrapes and rule evaluations) scraping a
 * `serve` process on a real redis-server and a relay process that holds a broadcaster (a
 * node-datachannel publisher) and publishes into the master stage (a WHIP endpoint), both with
 * METRICS_TOKEN as the bearer. Both targets up; the key series in Prometheus; the alert rules loaded,
 * healthy and quiet; every dashboard query valid; then the broadcaster leaves with a viewer seated
 * (IvsFanoutBroadcasterGone pending, cleared when it is back), and the store goes away
 * (ivs_fanout_store_up 0 while serve's target stays up, IvsFanoutStoreUnreachable pending).
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { eventually, until } from '../support/eventually'
import { beforeAllOrFail } from '../support/hooks'
import { killAtRunEnd, tempDir } from '../support/leftovers'
import { BUN, bareEnv, freePort, ROOT, type Spawned, spawnProcess } from '../support/process'
import { type PrometheusServer, startPrometheus } from '../support/prometheus'
import { TestPublisher } from '../support/publisher'
import { type RedisServer, startRedis } from '../support/redis'
import { startWhipEndpoint, type WhipEndpoint } from '../support/whip-endpoint'

const FOLDER = join(ROOT, 'docs/monitoring')
const API_KEY = 'monitoring-api-key-0123456789'
const METRICS_TOKEN = 'monitoring-metrics-token-0123456789'
const MEDIA_SECRET = 'monitoring-media-secret-0123'
const PUBLISH_SECRET = 'monitoring-publish-secret-0123'

let redis: RedisServer
let whip: WhipEndpoint
let serve: Spawned
let relay: Spawned
let serveUrl: string
let relayUrl: string
let publisher: TestPublisher | null = null
let prometheus: PrometheusServer
let masterArn: string

const rules = (Bun.YAML.parse(readFileSync(join(FOLDER, 'ivs-fanout.rules.yml'), 'utf8')) as { groups: { name: string; rules: { alert: string }[] }[] }).groups
const dashboard = JSON.parse(readFileSync(join(FOLDER, 'grafana-dashboard.json'), 'utf8')) as {
  panels: { type: string; title: string; targets?: { expr: string }[] }[]
}

const api = (path: string, init: RequestInit & { json?: unknown } = {}) =>
  fetch(serveUrl + path, {
    ...init,
    headers: { 'x-api-key': API_KEY, ...(init.json === undefined ? {} : { 'content-type': 'application/json' }) },
    body: init.json === undefined ? init.body : JSON.stringify(init.json),
  })

/** The example configuration, pointed at this test's processes: 1 s scrapes and evaluations, the token in a file of its own. */
function prometheusConfig(servePort: number, relayPort: number): unknown {
  const dir = tempDir('ivsf-monitoring-')
  const tokenFile = join(dir, 'metrics-token')
  writeFileSync(tokenFile, `${METRICS_TOKEN}\n`)
  const config = Bun.YAML.parse(readFileSync(join(FOLDER, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>
    rule_files: string[]
    scrape_configs: { job_name: string; authorization: { credentials_file: string }; static_configs: { targets: string[] }[] }[]
  }
  config.global = { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' }
  config.rule_files = config.rule_files.map((file) => join(FOLDER, file))
  const ports: Record<string, number> = { 'ivs-fanout-serve': servePort, 'ivs-fanout-relay': relayPort }
  expect(config.scrape_configs.map((c) => c.job_name).sort()).toEqual(Object.keys(ports).sort())
  for (const job of config.scrape_configs) {
    job.authorization.credentials_file = tokenFile
    job.static_configs = [{ targets: [`127.0.0.1:${ports[job.job_name]}`] }]
  }
  return config
}

interface Target {
  labels: { job: string; instance: string }
  health: string
  lastError: string
}
interface RuleGroup {
  name: string
  rules: { name: string; type: string; health: string; state: string; lastError?: string; lastEvaluation: string }[]
}
interface Alert {
  labels: Record<string, string>
  annotations: Record<string, string>
  state: string
  value: string
}

const alertsNow = async () => (await prometheus.api<{ alerts: Alert[] }>('alerts')).alerts

beforeAllOrFail(async () => {
  redis = await startRedis()
  whip = await startWhipEndpoint()
  const servePort = await freePort()
  serveUrl = `http://127.0.0.1:${servePort}`
  serve = spawnProcess(
    [BUN, 'run', 'src/main.ts', 'serve'],
    bareEnv({
      API_PORT: String(servePort),
      API_SECRET_KEY: API_KEY,
      MEDIA_SERVER_SECRET: MEDIA_SECRET,
      METRICS_TOKEN,
      REDIS_URL: redis.url,
      IVS_PROVIDER: 'local',
      LOCAL_WHIP_URL: whip.url,
      RATE_LIMIT_MAX_REQUESTS: '100000',
    }),
  )
  killAtRunEnd(serve.proc)
  await serve.waitFor(/"msg":"serving"/, 20_000)
  const relayPort = await freePort()
  relayUrl = `http://127.0.0.1:${relayPort}`
  relay = spawnProcess(
    [BUN, 'run', 'src/main.ts', 'relay'],
    bareEnv({
      API_PORT: String(relayPort),
      API_SERVER_URL: serveUrl,
      API_SECRET_KEY: API_KEY,
      MEDIA_SERVER_SECRET: MEDIA_SECRET,
      PUBLISH_SECRET,
      METRICS_TOKEN,
      SERVER_ID: 'relay-monitored',
      RATE_LIMIT_MAX_REQUESTS: '100000',
    }),
  )
  killAtRunEnd(relay.proc)
  await eventually(
    'relay ready',
    () =>
      fetch(`${relayUrl}/health/ready`).then(
        (r) => r.status === 200,
        () => false,
      ),
    15_000,
    100,
  )
  masterArn = ((await (await api('/api/stage/master/info')).json()) as { data: { stage: { stageArn: string } } }).data.stage.stageArn
  publisher = new TestPublisher(relayUrl, PUBLISH_SECRET)
  await publisher.start()
  prometheus = await startPrometheus(prometheusConfig(servePort, relayPort))
}, 60_000)

afterAll(async () => {
  await publisher?.stop()
  await prometheus?.stop()
  // How they stop is other tests' subject: no drain here.
  for (const p of [relay, serve]) {
    if (!p || p.proc.exitCode !== null) continue
    p.kill('SIGKILL')
    await p.proc.exited
  }
  await whip?.stop()
  await redis?.stop()
}, 20_000)

describe('Prometheus scraping serve and the relay', () => {
  test('both targets up, scraped with METRICS_TOKEN as the bearer', async () => {
    const targets = await until(
      'both targets up',
      async () => {
        const active = (await prometheus.api<{ activeTargets: Target[] }>('targets')).activeTargets
        return active.length === 2 && active.every((t) => t.health === 'up') ? active : null
      },
      15_000,
      200,
    )
    expect(targets.map((t) => t.labels.job).sort()).toEqual(['ivs-fanout-relay', 'ivs-fanout-serve'])
    // Without the token the same endpoints refuse: the bearer is what lets Prometheus in.
    for (const url of [serveUrl, relayUrl]) expect((await fetch(`${url}/metrics`)).status).toBe(401)
  }, 30_000)

  test('the key series are in Prometheus, with the values this fleet has', async () => {
    const one = async (expr: string) => {
      const result = await until(`${expr} in Prometheus`, async () => ((await prometheus.query(expr)).length > 0 ? prometheus.query(expr) : null), 15_000, 200)
      return result.map((r) => Number(r.value[1]))
    }
    // The relay reports the publisher at once, its stage session goes live, serve's next scrape says so.
    await eventually(
      'the master stage live at the relay',
      async () => (await prometheus.query(`ivs_fanout_relay_stage_state{state="live"} == 1`)).length === 1,
      20_000,
      200,
    )
    expect((await prometheus.query('ivs_fanout_relay_stage_state{state="live"} == 1'))[0]!.metric.stage).toBe(masterArn)
    await eventually('publisher active at serve', async () => (await prometheus.query('ivs_fanout_publisher_active == 1')).length === 1, 15_000, 200)
    expect(await one('ivs_fanout_leader{job="ivs-fanout-serve"}')).toEqual([1])
    expect(await one('ivs_fanout_store_up')).toEqual([1])
    expect(await one('ivs_fanout_capacity_exhausted')).toEqual([0])
    expect(await one('ivs_fanout_viewers')).toEqual([0])
    expect((await one('ivs_fanout_seats'))[0]).toBeGreaterThan(0)
    expect(await one('ivs_fanout_relay_publisher_active')).toEqual([1])
    expect(await one('count(ivs_fanout_replication_refusals_total == 0)')).toEqual([5])
    expect((await one('ivs_fanout_relay_ingest_unrepaired_total')).length).toBe(1)
    expect((await one('ivs_fanout_relay_ingest_missing_packets_total')).length).toBe(1)
    expect((await one('ivs_fanout_relay_publisher_packets_total'))[0]).toBeGreaterThan(0)
    // The test clip has a keyframe every second.
    const interval = (await one('ivs_fanout_relay_publisher_keyframe_interval_seconds'))[0]!
    expect(interval).toBeGreaterThan(0.8)
    expect(interval).toBeLessThan(1.2)
    expect((await one('sum(ivs_fanout_http_request_duration_seconds_count)'))[0]).toBeGreaterThan(0)
  }, 45_000)

  test('the alert rules are loaded, evaluated without error, and quiet while all is well', async () => {
    const loaded = async () => (await prometheus.api<{ groups: RuleGroup[] }>('rules')).groups
    // Evaluated since both targets were scraped (an evaluation before the first scrape finds no leader: pending, then resolved).
    await until('every rule evaluated', async () => (await loaded()).every((g) => g.rules.every((r) => r.lastEvaluation > '2000')), 15_000, 200)
    await eventually('every rule inactive', async () => (await loaded()).every((g) => g.rules.every((r) => r.state === 'inactive')), 10_000, 200).catch(() => {
      // the assertion below names the rule that is not
    })
    const groups = await loaded()
    expect(groups.map((g) => ({ name: g.name, rules: g.rules.map((r) => r.name) }))).toEqual(
      rules.map((g) => ({ name: g.name, rules: g.rules.map((r) => r.alert) })),
    )
    for (const rule of groups.flatMap((g) => g.rules))
      expect({ rule: rule.name, type: rule.type, health: rule.health, lastError: rule.lastError ?? '', state: rule.state }).toEqual({
        rule: rule.name,
        type: 'alerting',
        health: 'ok',
        lastError: '',
        state: 'inactive',
      })
    expect(await alertsNow()).toEqual([])
  }, 30_000)

  test("every dashboard panel's query is valid PromQL for this Prometheus; the panels without data here are the IVS ones (AWS mode)", async () => {
    // A rate needs two samples in its range: a few scrapes first.
    await eventually('three scrapes of each target', async () => (await prometheus.query('count_over_time(up[1m]) >= 3')).length === 2, 15_000, 200)
    const empty: string[] = []
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      let data = false
      for (const target of panel.targets ?? []) {
        const result = await prometheus.query(target.expr.replaceAll('$__rate_interval', '1m'))
        data ||= result.length > 0
      }
      if (!data) empty.push(panel.title)
    }
    expect(empty).toEqual(['IVS quota utilisation', 'IVS calls', 'Quota gate wait (p90)'])
  }, 30_000)

  test('the broadcaster leaves while a viewer is seated: IvsFanoutBroadcasterGone pending (its for: is 2 minutes); back, it clears', async () => {
    expect((await api('/api/token/viewer', { method: 'POST', json: { userId: 'watching' } })).status).toBe(200)
    await publisher!.stop()
    publisher = null
    const pending = await until(
      'IvsFanoutBroadcasterGone pending',
      async () => (await alertsNow()).find((a) => a.labels.alertname === 'IvsFanoutBroadcasterGone'),
      15_000,
      200,
    )
    expect(pending.state).toBe('pending')
    expect(pending.labels).toEqual({ alertname: 'IvsFanoutBroadcasterGone', severity: 'warning' })
    expect(pending.annotations.summary).toBe('No broadcaster while 1 viewers are seated')
    publisher = new TestPublisher(relayUrl, PUBLISH_SECRET)
    await publisher.start()
    await eventually('the alert cleared', async () => !(await alertsNow()).some((a) => a.labels.alertname === 'IvsFanoutBroadcasterGone'), 15_000, 200)
  }, 40_000)

  test("the store goes away: serve's target stays up with ivs_fanout_store_up 0 and without the store's figures; IvsFanoutStoreUnreachable pending", async () => {
    await redis.stop()
    const down = await until('ivs_fanout_store_up 0', async () => (await prometheus.query('ivs_fanout_store_up == 0'))[0], 15_000, 200)
    expect(down.metric.job).toBe('ivs-fanout-serve')
    const pending = await until(
      'IvsFanoutStoreUnreachable pending',
      async () => (await alertsNow()).find((a) => a.labels.alertname === 'IvsFanoutStoreUnreachable'),
      10_000,
      200,
    )
    expect(pending.state).toBe('pending')
    expect(pending.labels).toEqual({ alertname: 'IvsFanoutStoreUnreachable', severity: 'critical', instance: down.metric.instance!, job: 'ivs-fanout-serve' })
    const serveTarget = (await prometheus.api<{ activeTargets: Target[] }>('targets')).activeTargets.find((t) => t.labels.job === 'ivs-fanout-serve')!
    expect({ health: serveTarget.health, lastError: serveTarget.lastError }).toEqual({ health: 'up', lastError: '' })
    // The fleet's figures are read from the store: gone from the scrape (stale), not reported wrong.
    await eventually('ivs_fanout_viewers stale', async () => (await prometheus.query('ivs_fanout_viewers')).length === 0, 10_000, 200)
  }, 40_000)
})
