import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch'
import { createLogger, type Logger } from '../../src/log'
import {
  createCloudWatchClient,
  createMetricsPublisher,
  DEFAULT_PUBLISH_INTERVAL_MS,
  type MetricsPublisher,
  type StageGauge,
} from '../../src/metrics/cloudwatch'
import { Counters } from '../../src/metrics/counters'
import { ManualClock, ManualTicker } from '../support/clock'
import { type CloudWatchServer, JSON_1_0, PUT_METRIC_DATA_TARGET, type ReceivedDatum, startCloudWatchServer } from '../support/cloudwatch-server'

const NAMESPACE = 'IVS/Test'
const REGION = 'us-east-1'
const FAKE_CREDENTIALS = { accessKeyId: 'AKIDLOCALTEST0000000', secretAccessKey: 'local-test-secret-key-not-real' }
const ONE_MB = 1_048_576

const arn = (i: number, id = `st${String(i).padStart(10, '0')}`) => `arn:aws:ivs:${REGION}:123456789012:stage/${id}`
const stage = (i: number, viewerCount: number, status: StageGauge['status'] = 'active'): StageGauge => ({ arn: arn(i), status, viewerCount })

interface LogEntry {
  level: string
  msg: string
  [field: string]: unknown
}

interface Harness {
  publisher: MetricsPublisher
  counters: Counters
  clock: ManualClock
  ticker: ManualTicker
  logs: LogEntry[]
  stages: StageGauge[]
}

let server: CloudWatchServer
const clients: CloudWatchClient[] = []

beforeAll(async () => {
  server = await startCloudWatchServer()
})
afterAll(async () => {
  await server.stop()
})
beforeEach(() => server.reset())
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy()
})

function capturingLogger(logs: LogEntry[]): Logger {
  return createLogger('debug', {}, (line) => logs.push(JSON.parse(line) as LogEntry))
}

/** A publisher built by the production factory around the real SDK client, pointed at the local endpoint. */
function harness(options: { enabled?: boolean; maxAttempts?: number; stages?: StageGauge[]; endpoint?: string; sendTimeoutMs?: number } = {}): Harness {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 0))
  const ticker = new ManualTicker()
  const counters = new Counters()
  const logs: LogEntry[] = []
  const stages = options.stages ?? []
  const client = createCloudWatchClient({
    region: REGION,
    endpoint: options.endpoint ?? server.url,
    credentials: FAKE_CREDENTIALS,
    maxAttempts: options.maxAttempts ?? 1,
  })
  clients.push(client)
  const publisher = createMetricsPublisher(
    { cloudwatchEnabled: options.enabled ?? true, cloudwatchNamespace: NAMESPACE, awsRegion: REGION },
    { client, counters, clock, ticker, logger: capturingLogger(logs), gauges: { readGauges: async () => ({ stages }) } },
    options.sendTimeoutMs ? { sendTimeoutMs: options.sendTimeoutMs } : {},
  )
  return { publisher, counters, clock, ticker, logs, stages }
}

const seriesKey = (d: Pick<ReceivedDatum, 'metricName' | 'dimensions'>) =>
  [
    d.metricName,
    ...Object.entries(d.dimensions)
      .sort()
      .map(([k, v]) => `${k}=${v}`),
  ].join('|')

/** Received data as `series → value`, failing on a series sent twice in one set. */
function valuesBySeries(data: ReceivedDatum[]): Record<string, number | null> {
  const out: Record<string, number | null> = {}
  for (const d of data) {
    const key = seriesKey(d)
    if (key in out) throw new Error(`series ${key} sent twice`)
    out[key] = d.value
  }
  return out
}

const counterValues = (data: ReceivedDatum[]) => valuesBySeries(data.filter((d) => !['TotalViewers', 'ActiveStages', 'Viewers'].includes(d.metricName)))

const ZERO_COUNTERS = {
  'TokensIssued|Kind=publisher': 0,
  'TokensIssued|Kind=viewer': 0,
  'TokensIssued|Kind=mediaserver': 0,
  Heartbeats: 0,
  ScaleUps: 0,
  ScaleDowns: 0,
}

const errorLogs = (logs: LogEntry[]) => logs.filter((l) => l.level === 'error')

describe('CloudWatchPublisher with the real SDK client', () => {
  test('a tick sends every metric with its name, value, unit, dimensions and timestamp', async () => {
    const h = harness({ stages: [stage(1, 10), stage(2, 20), stage(3, 3, 'draining')] })
    h.counters.add('TokensIssued', 1, { kind: 'publisher' })
    h.counters.add('TokensIssued', 5, { kind: 'viewer' })
    h.counters.add('TokensIssued', 2, { kind: 'mediaserver' })
    h.counters.add('Heartbeats', 7)
    h.counters.add('ScaleUps', 1)
    h.counters.add('Errors', 3, { code: 'RATE_LIMITED' })
    h.counters.add('Errors', 1, { code: 'INTERNAL_ERROR' })
    h.counters.add('NotPublished', 9, { userId: 'u1' })

    h.publisher.start()
    expect(h.ticker.intervals).toEqual([DEFAULT_PUBLISH_INTERVAL_MS])
    await h.ticker.fire()

    expect(server.calls).toHaveLength(1)
    const call = server.calls[0]!
    expect(call).toMatchObject({ status: 200, target: PUT_METRIC_DATA_TARGET, contentType: JSON_1_0, contentEncoding: null, namespace: NAMESPACE })
    const stamp = Date.UTC(2026, 0, 1, 12, 0, 0)
    for (const d of call.data) expect(d).toMatchObject({ namespace: NAMESPACE, unit: 'Count', timestamp: stamp })
    expect(valuesBySeries(call.data)).toEqual({
      TotalViewers: 33,
      ActiveStages: 2,
      [`Viewers|StageArn=${arn(1)}`]: 10,
      [`Viewers|StageArn=${arn(2)}`]: 20,
      [`Viewers|StageArn=${arn(3)}`]: 3,
      'TokensIssued|Kind=publisher': 1,
      'TokensIssued|Kind=viewer': 5,
      'TokensIssued|Kind=mediaserver': 2,
      Heartbeats: 7,
      ScaleUps: 1,
      ScaleDowns: 0,
      'Errors|Code=RATE_LIMITED': 3,
      'Errors|Code=INTERNAL_ERROR': 1,
    })
    expect(errorLogs(h.logs)).toEqual([])
    await h.publisher.stop()
  })

  test('counters are sent as deltas since the last send', async () => {
    const h = harness({ stages: [stage(1, 4)] })
    h.publisher.start()
    h.counters.add('TokensIssued', 3, { kind: 'viewer' })
    h.counters.add('Heartbeats', 10)
    await h.ticker.fire()

    h.counters.add('TokensIssued', 2, { kind: 'viewer' })
    h.counters.add('ScaleDowns', 1)
    h.stages[0] = stage(1, 6)
    h.clock.advance(60_000)
    await h.ticker.fire()

    expect(server.calls.map((c) => c.status)).toEqual([200, 200])
    const second = server.calls[1]!.data
    expect(counterValues(second)).toEqual({ ...ZERO_COUNTERS, 'TokensIssued|Kind=viewer': 2, ScaleDowns: 1 })
    // Gauges are current values, not deltas.
    expect(valuesBySeries(second)).toMatchObject({ TotalViewers: 6, [`Viewers|StageArn=${arn(1)}`]: 6 })
    for (const d of second) expect(d.timestamp).toBe(Date.UTC(2026, 0, 1, 12, 1, 0))

    await h.ticker.fire()
    expect(counterValues(server.calls[2]!.data)).toEqual(ZERO_COUNTERS)
    await h.publisher.stop()
  })

  test('1,200 stages are split into several calls, each within 1,000 data and 1 MB', async () => {
    const stages = Array.from({ length: 1_200 }, (_, i) => stage(i, i % 50))
    const h = harness({ stages })
    await h.publisher.flush()

    expect(server.calls.length).toBeGreaterThanOrEqual(2)
    for (const call of server.calls) {
      expect(call.status).toBe(200)
      expect(call.data.length).toBeLessThanOrEqual(1_000)
      expect(call.jsonBytes).toBeLessThanOrEqual(ONE_MB)
      expect(call.wireBytes).toBeLessThanOrEqual(ONE_MB)
    }
    const all = valuesBySeries(server.accepted())
    expect(Object.keys(all)).toHaveLength(1_200 + 2 + Object.keys(ZERO_COUNTERS).length)
    for (const [i, _s] of stages.entries()) expect(all[`Viewers|StageArn=${arn(i)}`]).toBe(i % 50)
    expect(all.TotalViewers).toBe(stages.reduce((sum, s) => sum + s.viewerCount, 0))
    await h.publisher.stop()
  })

  test('fewer than 1,000 data over 1 MB are split by size', async () => {
    // Dimension values may be up to 1,024 characters: 990 of them (998 data with the rest) make over 1 MB of JSON.
    const longArn = (i: number) => arn(i, `${i}-`.padEnd(1_024 - arn(0, '').length, 'x'))
    const stages = Array.from({ length: 990 }, (_, i) => ({ arn: longArn(i), status: 'active' as const, viewerCount: i }))
    const h = harness({ stages })
    await h.publisher.flush()

    expect(server.calls.length).toBeGreaterThanOrEqual(2)
    for (const call of server.calls) {
      expect(call.status).toBe(200)
      expect(call.jsonBytes).toBeLessThanOrEqual(ONE_MB)
      expect(call.contentEncoding).toBe('gzip')
    }
    expect(server.calls.reduce((sum, c) => sum + c.jsonBytes, 0)).toBeGreaterThan(ONE_MB)
    const viewers = server.accepted().filter((d) => d.metricName === 'Viewers')
    expect(viewers).toHaveLength(990)
    expect(viewers[989]).toMatchObject({ dimensions: { StageArn: longArn(989) }, value: 989 })
    await h.publisher.stop()
  })

  test('a small payload goes plain and a large one gzipped, and both decode', async () => {
    const h = harness({ stages: [stage(1, 1)] })
    await h.publisher.flush()
    h.stages.push(...Array.from({ length: 300 }, (_, i) => stage(i + 2, 7)))
    await h.publisher.flush()

    const [small, large] = server.calls
    expect(small).toMatchObject({ status: 200, contentEncoding: null })
    expect(small!.wireBytes).toBe(small!.jsonBytes)
    expect(large).toMatchObject({ status: 200, contentEncoding: 'gzip' })
    expect(large!.jsonBytes).toBeGreaterThanOrEqual(10_240)
    expect(large!.wireBytes).toBeLessThan(large!.jsonBytes)
    const values = valuesBySeries(large!.data)
    expect(values.TotalViewers).toBe(1 + 300 * 7)
    expect(values[`Viewers|StageArn=${arn(301)}`]).toBe(7)
    await h.publisher.stop()
  })

  test('a failed send is logged and its counter deltas go out with the next period', async () => {
    const h = harness({ stages: [stage(1, 5)] })
    h.publisher.start()
    h.counters.add('TokensIssued', 5, { kind: 'viewer' })
    h.counters.add('Errors', 2, { code: 'UPSTREAM_UNAVAILABLE' })
    server.failNext(1, 'internal')
    await h.ticker.fire()

    expect(server.calls.map((c) => c.status)).toEqual([500])
    expect(errorLogs(h.logs)).toHaveLength(1)
    expect(errorLogs(h.logs)[0]).toMatchObject({ errorName: 'InternalServiceFault', status: 500, call: 1, calls: 1 })

    h.counters.add('TokensIssued', 2, { kind: 'viewer' })
    h.clock.advance(60_000)
    await h.ticker.fire()
    expect(server.calls[1]!.status).toBe(200)
    expect(counterValues(server.calls[1]!.data)).toEqual({ ...ZERO_COUNTERS, 'TokensIssued|Kind=viewer': 7, 'Errors|Code=UPSTREAM_UNAVAILABLE': 2 })

    await h.ticker.fire()
    expect(counterValues(server.calls[2]!.data)).toEqual({ ...ZERO_COUNTERS, 'Errors|Code=UPSTREAM_UNAVAILABLE': 0 })
    await h.publisher.stop()
  })

  test('throttling past the SDK retries is logged and carried over too', async () => {
    const h = harness({ maxAttempts: 2 })
    h.counters.add('Heartbeats', 4)
    server.failNext(2, 'throttle')
    await h.publisher.flush()
    expect(server.calls.map((c) => [c.status, c.error, c.attempt])).toEqual([
      [400, 'Throttling', 'attempt=1; max=2'],
      [400, 'Throttling', 'attempt=2; max=2'],
    ])
    expect(errorLogs(h.logs)[0]).toMatchObject({ errorName: 'Throttling' })

    h.counters.add('Heartbeats', 1)
    await h.publisher.flush()
    expect(counterValues(server.calls[2]!.data).Heartbeats).toBe(5)
    await h.publisher.stop()
  })

  test('a throttled attempt the SDK retries successfully is not an error', async () => {
    const h = harness({ maxAttempts: 3 })
    h.counters.add('ScaleUps', 1)
    server.failNext(1, 'throttle')
    await h.publisher.flush()
    expect(server.calls.map((c) => c.status)).toEqual([400, 200])
    expect(errorLogs(h.logs)).toEqual([])
    await h.publisher.flush()
    expect(counterValues(server.calls[2]!.data).ScaleUps).toBe(0)
    await h.publisher.stop()
  })

  test('when a later call of a period fails, only what it carried is resent', async () => {
    const stages = Array.from({ length: 1_500 }, (_, i) => stage(i, 1))
    const h = harness({ stages })
    h.counters.add('TokensIssued', 4, { kind: 'publisher' })
    server.failNext(1, 'internal', 1)
    await h.publisher.flush()
    expect(server.calls.map((c) => c.status)).toEqual([200, 500])
    expect(counterValues(server.calls[0]!.data)['TokensIssued|Kind=publisher']).toBe(4)

    await h.publisher.flush()
    const next = server.calls.slice(2)
    expect(next.map((c) => c.status)).toEqual([200, 200])
    // The counters were delivered by the first call: not counted twice.
    expect(counterValues(next.flatMap((c) => c.data))['TokensIssued|Kind=publisher']).toBe(0)
    await h.publisher.stop()
  })

  test('an unreachable endpoint is logged, never thrown', async () => {
    const closed = await startCloudWatchServer()
    const url = closed.url
    await closed.stop()
    const h = harness({ endpoint: url })
    h.counters.add('Heartbeats', 1)
    await h.publisher.flush()
    await h.publisher.stop()
    expect(errorLogs(h.logs).length).toBeGreaterThanOrEqual(1)
  })

  test('a failing gauge source still lets the counters through', async () => {
    const logs: LogEntry[] = []
    const client = createCloudWatchClient({ region: REGION, endpoint: server.url, credentials: FAKE_CREDENTIALS, maxAttempts: 1 })
    clients.push(client)
    const counters = new Counters()
    counters.add('Heartbeats', 2)
    const publisher = createMetricsPublisher(
      { cloudwatchEnabled: true, cloudwatchNamespace: NAMESPACE, awsRegion: REGION },
      {
        client,
        counters,
        clock: new ManualClock(),
        ticker: new ManualTicker(),
        logger: capturingLogger(logs),
        gauges: {
          readGauges: async () => {
            throw new Error('store down')
          },
        },
      },
    )
    await publisher.flush()
    expect(valuesBySeries(server.accepted())).toEqual({ ...ZERO_COUNTERS, Heartbeats: 2 })
    expect(logs.find((l) => l.level === 'warn')).toMatchObject({ error: 'store down' })
    await publisher.stop()
  })

  test('a tick while a send is in progress is skipped, not overlapped', async () => {
    const h = harness({ stages: [stage(1, 1)] })
    h.publisher.start()
    const release = server.hold()
    const first = h.ticker.fire()
    await server.waitForCalls(1)
    const second = h.ticker.fire()
    await Bun.sleep(50)
    expect(server.calls).toHaveLength(1)
    release()
    await Promise.all([first, second])
    expect(server.calls).toHaveLength(1)

    await h.ticker.fire()
    expect(server.calls).toHaveLength(2)
    await h.publisher.stop()
  })

  test('stop sends the last figures once, then nothing more', async () => {
    const h = harness({ stages: [stage(1, 2)] })
    h.publisher.start()
    h.counters.add('TokensIssued', 1, { kind: 'viewer' })
    await h.ticker.fire()
    h.counters.add('TokensIssued', 4, { kind: 'viewer' })
    h.stages[0] = stage(1, 9)

    await h.publisher.stop()
    expect(server.calls).toHaveLength(2)
    const last = valuesBySeries(server.calls[1]!.data)
    expect(last['TokensIssued|Kind=viewer']).toBe(4)
    expect(last.TotalViewers).toBe(9)

    expect(h.ticker.intervals).toEqual([])
    await h.ticker.fire()
    await h.publisher.flush()
    await h.publisher.stop()
    expect(server.calls).toHaveLength(2)
  })

  test('stop waits for a send in progress, then still flushes', async () => {
    const h = harness()
    h.publisher.start()
    h.counters.add('Heartbeats', 1)
    const release = server.hold()
    const tick = h.ticker.fire()
    await server.waitForCalls(1)
    h.counters.add('Heartbeats', 2)
    const stopped = h.publisher.stop()
    await Bun.sleep(50)
    expect(server.calls).toHaveLength(1)
    release()
    await Promise.all([tick, stopped])
    expect(server.calls.map((c) => counterValues(c.data).Heartbeats)).toEqual([1, 2])
  })

  test('stop is bounded when CloudWatch does not answer', async () => {
    const h = harness({ sendTimeoutMs: 200 })
    const release = server.hold()
    try {
      const started = performance.now()
      await h.publisher.stop()
      expect(performance.now() - started).toBeLessThan(2_000)
      expect(errorLogs(h.logs)).toHaveLength(1)
    } finally {
      release()
    }
  })

  test('disabled: no calls at all', async () => {
    const h = harness({ enabled: false, stages: [stage(1, 1)] })
    h.counters.add('Heartbeats', 1)
    h.publisher.start()
    expect(h.ticker.intervals).toEqual([])
    await h.ticker.fire()
    await h.publisher.flush()
    await h.publisher.stop()
    await Bun.sleep(20)
    expect(server.calls).toHaveLength(0)
  })

  test('without an injected client the factory builds one from the environment and releases it on stop', async () => {
    const saved = { ...process.env }
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_CLOUDWATCH: server.url,
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    })
    try {
      const counters = new Counters()
      counters.add('ScaleUps', 2)
      const publisher = createMetricsPublisher(
        { cloudwatchEnabled: true, cloudwatchNamespace: NAMESPACE, awsRegion: 'eu-west-1' },
        { counters, clock: new ManualClock(), ticker: new ManualTicker(), logger: capturingLogger([]), gauges: { readGauges: async () => null } },
      )
      await publisher.stop()
      expect(server.calls).toHaveLength(1)
      expect(valuesBySeries(server.calls[0]!.data)).toEqual({ ...ZERO_COUNTERS, ScaleUps: 2 })
    } finally {
      for (const key of ['AWS_ENDPOINT_URL_CLOUDWATCH', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[key] === undefined) delete process.env[key]
        else process.env[key] = saved[key]
      }
    }
  })
})
