import { describe, expect, test } from 'bun:test'
import type { MetricDatum } from '@aws-sdk/client-cloudwatch'
import { envelopeBytes, estimateDatumBytes, PUT_METRIC_DATA_LIMITS, splitIntoBatches } from '../../src/metrics/batches'

const datum = (i: number, dimensions = 1, valueLength = 10): MetricDatum => ({
  MetricName: 'Viewers',
  Dimensions: Array.from({ length: dimensions }, (_, d) => ({ Name: `D${d}`, Value: `${i}`.padEnd(valueLength, 'v') })),
  Value: i,
  Unit: 'Count',
  Timestamp: new Date(Date.UTC(2026, 0, 1)),
})
const ids = (batch: MetricDatum[]) => batch.map((d) => d.Value)

describe('splitIntoBatches', () => {
  test('one call when everything fits', () => {
    const items = Array.from({ length: 1_000 }, (_, i) => datum(i))
    const { batches, rejected } = splitIntoBatches(items, (d) => d, 'NS')
    expect(batches).toHaveLength(1)
    expect(rejected).toEqual([])
  })

  test('splits at 1,000 data, keeping order', () => {
    const items = Array.from({ length: 2_001 }, (_, i) => datum(i))
    const { batches } = splitIntoBatches(items, (d) => d, 'NS')
    expect(batches.map((b) => b.length)).toEqual([1_000, 1_000, 1])
    expect(batches.flatMap(ids)).toEqual(items.map((d) => d.Value))
  })

  test('splits by bytes, each call within the byte limit as the SDK will write it', () => {
    const limits = { ...PUT_METRIC_DATA_LIMITS, maxBytesPerCall: 5_000 }
    const items = Array.from({ length: 40 }, (_, i) => datum(i, 2, 200))
    const { batches } = splitIntoBatches(items, (d) => d, 'IVS/Production', limits)
    expect(batches.length).toBeGreaterThan(1)
    for (const batch of batches) {
      // The SDK writes Timestamp as epoch seconds, shorter than the estimate's ISO string.
      const wire = JSON.stringify({ Namespace: 'IVS/Production', MetricData: batch.map((d) => ({ ...d, Timestamp: d.Timestamp!.getTime() / 1000 })) })
      expect(Buffer.byteLength(wire)).toBeLessThanOrEqual(5_000)
      const estimated = envelopeBytes('IVS/Production') + batch.reduce((sum, d) => sum + estimateDatumBytes(d), 0) + batch.length - 1
      expect(estimated).toBeLessThanOrEqual(5_000)
    }
    // Not split more than needed: each call but the last could not take the next datum.
    for (const [i, batch] of batches.slice(0, -1).entries()) {
      const next = batches[i + 1]![0]!
      const bytes = envelopeBytes('IVS/Production') + [...batch, next].reduce((sum, d) => sum + estimateDatumBytes(d), 0) + batch.length
      expect(bytes).toBeGreaterThan(5_000)
    }
  })

  test('rejects what CloudWatch would refuse instead of failing the whole call', () => {
    const items = [datum(1), datum(2, 31), { ...datum(3), Value: Number.NaN }, { ...datum(4), Value: Number.POSITIVE_INFINITY }, datum(5, 30)]
    const { batches, rejected } = splitIntoBatches(items, (d) => d, 'NS')
    expect(batches.flatMap(ids)).toEqual([1, 5])
    expect(rejected.map((r) => r.reason)).toEqual([
      '31 dimensions (limit 30)',
      'value NaN is outside what CloudWatch accepts',
      'value Infinity is outside what CloudWatch accepts',
    ])
  })

  test('rejects a datum larger than a whole call', () => {
    const limits = { ...PUT_METRIC_DATA_LIMITS, maxBytesPerCall: 500 }
    const { batches, rejected } = splitIntoBatches([datum(1), datum(2, 1, 600), datum(3)], (d) => d, 'NS', limits)
    expect(batches.flatMap(ids)).toEqual([1, 3])
    expect(rejected).toHaveLength(1)
  })

  test('nothing to send, no calls', () => {
    expect(splitIntoBatches([], (d: MetricDatum) => d, 'NS').batches).toEqual([])
  })
})
