import { type CounterSample, counterKey, type Dimensions } from './counters'

/** How one in-process counter maps onto a CloudWatch metric. */
export interface CounterMetricSpec {
  /** Counter dimension → CloudWatch dimension name. Counter dimensions not listed are summed away. */
  dimensions: Record<string, string>
  /** Series sent every period even before the counter first moves, so alarms see 0 rather than no data. */
  always: Dimensions[]
}

/**
 * The counters published to CloudWatch. Anything else in `Counters` stays in-process: an explicit list
 * keeps a careless new counter (say, one with a user id dimension) from becoming thousands of billed metrics.
 */
export const COUNTER_METRICS: Record<string, CounterMetricSpec> = {
  TokensIssued: { dimensions: { kind: 'Kind' }, always: [{ kind: 'publisher' }, { kind: 'viewer' }, { kind: 'mediaserver' }] },
  Heartbeats: { dimensions: {}, always: [{}] },
  ScaleUps: { dimensions: {}, always: [{}] },
  ScaleDowns: { dimensions: {}, always: [{}] },
  Errors: { dimensions: { code: 'Code' }, always: [] },
  /** Every IVS call attempt by operation and outcome (ok, throttled, error). */
  IvsCalls: { dimensions: { operation: 'Operation', outcome: 'Outcome' }, always: [] },
  /** Time IVS calls waited for the fleet-wide quota gate, summed (divide by IvsCalls for the mean). */
  IvsGateWaitMs: { dimensions: { operation: 'Operation' }, always: [] },
  /** New viewers refused with CAPACITY_EXHAUSTED, by reason (max-stages, stage-quota, subscription-quota). */
  CapacityRefusals: { dimensions: { reason: 'Reason' }, always: [] },
  /** CreateStage refused by IVS's stages-per-account quota. */
  StageQuotaExceeded: { dimensions: {}, always: [] },
  /** Requests let in with API_SECRET_KEY_PREVIOUS: sent while it is set (0 included), so a rotation can end when it stays 0. */
  ApiKeyPreviousUsed: { dimensions: {}, always: [] },
}

export interface MetricDimension {
  Name: string
  Value: string
}

export interface CounterSeries {
  metricName: string
  dimensions: MetricDimension[]
  /** Increase since the last delivered send (carried over while sends fail). */
  delta: number
  /** The counter totals the delta was read from; recorded as sent once this series is delivered. */
  sources: { key: string; total: number }[]
}

const sampleKey = counterKey

/**
 * Turns the running totals of `Counters` into per-period deltas by remembering what was last
 * delivered. Until `markSent`, a series keeps growing, so a failed send is carried into the next one.
 */
export class CounterDeltas {
  private readonly delivered = new Map<string, number>()

  constructor(private readonly catalogue: Record<string, CounterMetricSpec> = COUNTER_METRICS) {}

  pending(samples: readonly CounterSample[]): CounterSeries[] {
    const series = new Map<string, CounterSeries>()
    const seriesFor = (name: string, spec: CounterMetricSpec, dimensions: Dimensions) => {
      const mapped: MetricDimension[] = []
      for (const [from, to] of Object.entries(spec.dimensions)) {
        const value = dimensions[from]
        if (value !== undefined) mapped.push({ Name: to, Value: value })
      }
      mapped.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
      const key = [name, ...mapped.map((d) => `${d.Name}=${d.Value}`)].join('|')
      let entry = series.get(key)
      if (!entry) {
        entry = { metricName: name, dimensions: mapped, delta: 0, sources: [] }
        series.set(key, entry)
      }
      return entry
    }

    for (const [name, spec] of Object.entries(this.catalogue)) {
      for (const dimensions of spec.always) seriesFor(name, spec, dimensions)
    }
    for (const sample of samples) {
      const spec = this.catalogue[sample.name]
      if (!spec) continue
      const key = sampleKey(sample.name, sample.dimensions)
      const last = this.delivered.get(key) ?? 0
      // A total below what was delivered means the counters were reset: all of it is new.
      const delta = sample.value >= last ? sample.value - last : sample.value
      const entry = seriesFor(sample.name, spec, sample.dimensions)
      entry.delta += delta
      entry.sources.push({ key, total: sample.value })
    }
    return [...series.values()]
  }

  markSent(series: CounterSeries): void {
    for (const source of series.sources) this.delivered.set(source.key, source.total)
  }
}
