import type { MetricDatum } from '@aws-sdk/client-cloudwatch'

/** Per-call limits of CloudWatch PutMetricData. */
export interface PutMetricDataLimits {
  maxDataPerCall: number
  /** Uncompressed JSON body; staying under it also keeps the gzipped request under the limit. */
  maxBytesPerCall: number
  maxDimensionsPerDatum: number
}

export const PUT_METRIC_DATA_LIMITS: PutMetricDataLimits = {
  maxDataPerCall: 1_000,
  // The API allows 1 MB (1,048,576 bytes); the margin covers the estimate below being off a little.
  maxBytesPerCall: 1_000_000,
  maxDimensionsPerDatum: 30,
}

export interface RejectedDatum<T> {
  item: T
  reason: string
}

export interface Batches<T> {
  batches: T[][]
  rejected: RejectedDatum<T>[]
}

/** CloudWatch rejects NaN, ±Infinity and magnitudes above 2^360. */
const MAX_ABS_VALUE = 2 ** 360

const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8')

/**
 * Bytes a datum adds to the JSON 1.0 body. The SDK writes Timestamp as epoch seconds
 * (e.g. 1767225600.123); an ISO string is longer, so measuring with it over-estimates.
 */
export function estimateDatumBytes(datum: MetricDatum): number {
  return utf8Bytes(JSON.stringify(datum))
}

/** Bytes of `{"Namespace":…,"MetricData":[]}` around the data. */
export function envelopeBytes(namespace: string): number {
  return utf8Bytes(JSON.stringify({ Namespace: namespace, MetricData: [] }))
}

/**
 * Splits data into as few PutMetricData calls as the limits allow, keeping their order.
 * A datum that could never be sent (too many dimensions, a value CloudWatch refuses, larger than
 * a whole call) is rejected rather than failing the call it would have joined.
 */
export function splitIntoBatches<T>(
  items: readonly T[],
  datumOf: (item: T) => MetricDatum,
  namespace: string,
  limits: PutMetricDataLimits = PUT_METRIC_DATA_LIMITS,
): Batches<T> {
  const batches: T[][] = []
  const rejected: RejectedDatum<T>[] = []
  const base = envelopeBytes(namespace)
  let current: T[] = []
  let currentBytes = base

  for (const item of items) {
    const datum = datumOf(item)
    const dimensions = datum.Dimensions?.length ?? 0
    if (dimensions > limits.maxDimensionsPerDatum) {
      rejected.push({ item, reason: `${dimensions} dimensions (limit ${limits.maxDimensionsPerDatum})` })
      continue
    }
    if (datum.Value !== undefined && !(Number.isFinite(datum.Value) && Math.abs(datum.Value) <= MAX_ABS_VALUE)) {
      rejected.push({ item, reason: `value ${datum.Value} is outside what CloudWatch accepts` })
      continue
    }
    const bytes = estimateDatumBytes(datum)
    if (base + bytes > limits.maxBytesPerCall) {
      rejected.push({ item, reason: `${bytes} bytes on its own (limit ${limits.maxBytesPerCall} per call)` })
      continue
    }
    const separator = current.length > 0 ? 1 : 0
    if (current.length >= limits.maxDataPerCall || currentBytes + separator + bytes > limits.maxBytesPerCall) {
      batches.push(current)
      current = []
      currentBytes = base
    }
    currentBytes += (current.length > 0 ? 1 : 0) + bytes
    current.push(item)
  }
  if (current.length > 0) batches.push(current)
  return { batches, rejected }
}
