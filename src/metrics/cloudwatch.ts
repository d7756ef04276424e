import { CloudWatchClient, type MetricDatum, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch'
import type { Clock } from '../clock'
import type { Logger } from '../log'
import type { StageView } from '../store/types'
import { systemTicker, type Ticker } from '../ticker'
import { PUT_METRIC_DATA_LIMITS, type PutMetricDataLimits, splitIntoBatches } from './batches'
import { CounterDeltas, type CounterSeries } from './counter-deltas'
import type { CounterSample } from './counters'

export const DEFAULT_PUBLISH_INTERVAL_MS = 60_000
export const DEFAULT_SEND_TIMEOUT_MS = 10_000

/** What the per-stage gauges need from a stage. */
export type StageGauge = Pick<StageView, 'arn' | 'status' | 'viewerCount'>

export interface FleetGauges {
  stages: readonly StageGauge[]
  /** 1 while new viewers are refused for capacity (MAX_STAGES or an IVS account quota). */
  capacityExhausted?: boolean
  /** Share of each IVS rate quota in use, fleet-wide (AWS mode). */
  quota?: readonly { operation: string; used: number; limit: number }[]
  /** Participant replications running (FANOUT_MODE replicate and hybrid). */
  replications?: number
}

/** Fleet-wide figures read at each period. */
export interface FleetGaugeSource {
  /**
   * The fleet as it is now, or null when this instance should not publish gauges (for instance
   * when several instances share one store and only the leader should report it).
   */
  readGauges(): Promise<FleetGauges | null>
}

/** The part of `Counters` the publisher reads. */
export interface CounterSource {
  snapshot(): CounterSample[]
}

/** The part of `CloudWatchClient` the publisher uses, so tests and callers can pass their own. */
export interface PutMetricDataClient {
  send(command: PutMetricDataCommand, options?: { abortSignal?: AbortSignal }): Promise<unknown>
}

export interface MetricsPublisher {
  /** Starts the periodic sends; calling it again does nothing. */
  start(): void
  /** Sends the current figures now, after any send in progress; never rejects. */
  flush(): Promise<void>
  /** Cancels the timer and sends the last figures once; later ticks and flushes do nothing. */
  stop(): Promise<void>
}

export interface CloudWatchPublisherDeps {
  client: PutMetricDataClient
  counters: CounterSource
  gauges: FleetGaugeSource
  clock: Clock
  logger: Logger
  ticker?: Ticker
}

export interface CloudWatchPublisherOptions {
  namespace: string
  intervalMs?: number
  /** Per PutMetricData call, SDK retries included; bounds how long stop() can take. */
  sendTimeoutMs?: number
  limits?: PutMetricDataLimits
}

/** A datum plus, for counters, the series whose delta it carries (marked sent once delivered). */
interface OutgoingDatum {
  datum: MetricDatum
  series: CounterSeries | null
}

const describeError = (error: unknown) => {
  if (!(error instanceof Error)) return { error: String(error) }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  return { error: error.message, errorName: error.name, ...(status === undefined ? {} : { status }) }
}

/**
 * Sends fleet gauges and counter deltas to CloudWatch every period. Sends never overlap (a tick
 * that finds one in progress is skipped), failures are logged and the unsent counter deltas ride
 * along with the next period, and nothing here throws into the caller.
 */
export class CloudWatchPublisher implements MetricsPublisher {
  private readonly deltas = new CounterDeltas()
  private readonly ticker: Ticker
  private readonly namespace: string
  private readonly intervalMs: number
  private readonly sendTimeoutMs: number
  private readonly limits: PutMetricDataLimits
  private cancelTimer: (() => void) | null = null
  private inFlight: Promise<void> | null = null
  private stopping: Promise<void> | null = null
  private stopped = false

  constructor(
    private readonly deps: CloudWatchPublisherDeps,
    options: CloudWatchPublisherOptions,
  ) {
    this.ticker = deps.ticker ?? systemTicker
    this.namespace = options.namespace
    this.intervalMs = options.intervalMs ?? DEFAULT_PUBLISH_INTERVAL_MS
    this.sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS
    this.limits = options.limits ?? PUT_METRIC_DATA_LIMITS
  }

  start(): void {
    if (this.cancelTimer || this.stopping) return
    this.cancelTimer = this.ticker.every(this.intervalMs, () => this.tick())
    this.deps.logger.info('cloudwatch metrics publishing', { namespace: this.namespace, intervalMs: this.intervalMs })
  }

  /** One period: sends unless a send is still in progress, in which case this tick is skipped. */
  tick(): Promise<void> {
    if (this.stopping) return Promise.resolve()
    if (this.inFlight) {
      this.deps.logger.debug('cloudwatch send still in progress; tick skipped')
      return this.inFlight
    }
    return this.run()
  }

  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight
    if (this.stopped) return
    await this.run()
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.cancelTimer?.()
      this.cancelTimer = null
      await this.flush()
      this.stopped = true
    })()
    return this.stopping
  }

  private run(): Promise<void> {
    const run: Promise<void> = this.publish()
      .catch((error) => this.deps.logger.error('cloudwatch publish failed', describeError(error)))
      .finally(() => {
        if (this.inFlight === run) this.inFlight = null
      })
    this.inFlight = run
    return run
  }

  private async publish(): Promise<void> {
    const timestamp = new Date(this.deps.clock.now())
    const outgoing: OutgoingDatum[] = [
      // Counters and fleet totals first, so they go out in the first call.
      ...this.deltas.pending(this.deps.counters.snapshot()).map((series) => ({
        datum: { MetricName: series.metricName, Dimensions: series.dimensions, Value: series.delta, Unit: 'Count' as const, Timestamp: timestamp },
        series,
      })),
      ...(await this.gaugeData(timestamp)).map((datum) => ({ datum, series: null })),
    ]

    const { batches, rejected } = splitIntoBatches(outgoing, (o) => o.datum, this.namespace, this.limits)
    if (rejected.length > 0) {
      this.deps.logger.warn('cloudwatch metric data dropped', {
        count: rejected.length,
        metric: rejected[0]!.item.datum.MetricName,
        reason: rejected[0]!.reason,
      })
    }

    for (const [index, batch] of batches.entries()) {
      try {
        await this.send(batch.map((o) => o.datum))
      } catch (error) {
        const carriedOver = batches
          .slice(index)
          .flat()
          .filter((o) => o.series !== null && o.series.delta !== 0).length
        this.deps.logger.error('cloudwatch PutMetricData failed; unsent counter deltas carried over to the next period', {
          ...describeError(error),
          call: index + 1,
          calls: batches.length,
          carriedOver,
        })
        // The rest would most likely fail the same way (throttled, unreachable): try again next period.
        return
      }
      for (const o of batch) if (o.series) this.deltas.markSent(o.series)
    }
    this.deps.logger.debug('cloudwatch metrics sent', { data: outgoing.length, calls: batches.length })
  }

  private async gaugeData(timestamp: Date): Promise<MetricDatum[]> {
    let reading: Awaited<ReturnType<FleetGaugeSource['readGauges']>>
    try {
      reading = await this.deps.gauges.readGauges()
    } catch (error) {
      this.deps.logger.warn('cloudwatch gauges unavailable this period; counters sent alone', describeError(error))
      return []
    }
    if (!reading) return []
    const { stages, quota = [] } = reading
    const gauge = (name: string, value: number, dimensions?: MetricDatum['Dimensions']): MetricDatum => ({
      MetricName: name,
      ...(dimensions ? { Dimensions: dimensions } : {}),
      Value: value,
      Unit: 'Count',
      Timestamp: timestamp,
    })
    return [
      gauge(
        'TotalViewers',
        stages.reduce((sum, s) => sum + s.viewerCount, 0),
      ),
      gauge('ActiveStages', stages.filter((s) => s.status === 'active').length),
      ...stages.map((s) => gauge('Viewers', s.viewerCount, [{ Name: 'StageArn', Value: s.arn }])),
      ...(reading.capacityExhausted === undefined ? [] : [gauge('CapacityExhausted', reading.capacityExhausted ? 1 : 0)]),
      ...(reading.replications === undefined ? [] : [gauge('ActiveReplications', reading.replications)]),
      ...quota.map((q) => ({
        ...gauge('QuotaUtilisation', Math.round((q.used / q.limit) * 1000) / 10, [{ Name: 'Operation', Value: q.operation }]),
        Unit: 'Percent' as const,
      })),
    ]
  }

  private async send(data: MetricDatum[]): Promise<void> {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), this.sendTimeoutMs)
    timer.unref?.()
    try {
      await this.deps.client.send(new PutMetricDataCommand({ Namespace: this.namespace, MetricData: data }), { abortSignal: controller.signal })
    } finally {
      clearTimeout(timer)
    }
  }
}

export interface CloudWatchClientOptions {
  region: string
  /** Overrides the endpoint; without it the SDK also honours AWS_ENDPOINT_URL_CLOUDWATCH. */
  endpoint?: string
  /** Without them the SDK's default credential chain is used. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  maxAttempts?: number
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
}

export function createCloudWatchClient(options: CloudWatchClientOptions): CloudWatchClient {
  return new CloudWatchClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
    },
  })
}

export interface CloudWatchConfig {
  cloudwatchEnabled: boolean
  cloudwatchNamespace: string
  awsRegion: string
}

export interface MetricsPublisherDeps extends Omit<CloudWatchPublisherDeps, 'client'> {
  /** Defaults to a client for `config.awsRegion`, destroyed when the publisher stops. */
  client?: PutMetricDataClient
}

/** A publisher that does nothing, for when CloudWatch is off. */
export function noopMetricsPublisher(): MetricsPublisher {
  return { start() {}, flush: async () => {}, stop: async () => {} }
}

/** The publisher serve mode runs: CloudWatch when CLOUDWATCH_ENABLED, otherwise a no-op that makes no client at all. */
export function createMetricsPublisher(
  config: CloudWatchConfig,
  deps: MetricsPublisherDeps,
  options: Omit<CloudWatchPublisherOptions, 'namespace'> = {},
): MetricsPublisher {
  if (!config.cloudwatchEnabled) return noopMetricsPublisher()
  const ownClient = deps.client ? null : createCloudWatchClient({ region: config.awsRegion })
  const publisher = new CloudWatchPublisher({ ...deps, client: deps.client ?? ownClient! }, { ...options, namespace: config.cloudwatchNamespace })
  if (!ownClient) return publisher
  return {
    start: () => publisher.start(),
    flush: () => publisher.flush(),
    stop: async () => {
      await publisher.stop()
      ownClient.destroy()
    },
  }
}
