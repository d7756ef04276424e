import { describe, expect, test } from 'bun:test'
import { CounterDeltas, type CounterSeries } from '../../src/metrics/counter-deltas'
import { Counters } from '../../src/metrics/counters'

const byKey = (series: CounterSeries[]) =>
  Object.fromEntries(series.map((s) => [[s.metricName, ...s.dimensions.map((d) => `${d.Name}=${d.Value}`)].join('|'), s.delta]))

describe('CounterDeltas', () => {
  test('always-present series start at 0; unlisted counters are not published', () => {
    const counters = new Counters()
    counters.add('SomethingElse', 3)
    expect(byKey(new CounterDeltas().pending(counters.snapshot()))).toEqual({
      'TokensIssued|Kind=publisher': 0,
      'TokensIssued|Kind=viewer': 0,
      'TokensIssued|Kind=mediaserver': 0,
      Heartbeats: 0,
      ScaleUps: 0,
      ScaleDowns: 0,
    })
  })

  test('deltas grow until marked sent, then restart from what was sent', () => {
    const counters = new Counters()
    const deltas = new CounterDeltas()
    counters.add('Errors', 2, { code: 'RATE_LIMITED' })
    const first = deltas.pending(counters.snapshot())
    counters.add('Errors', 1, { code: 'RATE_LIMITED' })
    // Not sent: carried over.
    const second = deltas.pending(counters.snapshot())
    expect(byKey(second)['Errors|Code=RATE_LIMITED']).toBe(3)
    // Activity between reading and delivering belongs to the next period.
    counters.add('Errors', 10, { code: 'RATE_LIMITED' })
    for (const s of second) deltas.markSent(s)
    expect(byKey(deltas.pending(counters.snapshot()))['Errors|Code=RATE_LIMITED']).toBe(10)
    expect(byKey(first)['Errors|Code=RATE_LIMITED']).toBe(2)
  })

  test('dimensions not mapped to CloudWatch are summed into one series', () => {
    const counters = new Counters()
    counters.add('TokensIssued', 1, { kind: 'viewer', region: 'a' })
    counters.add('TokensIssued', 2, { kind: 'viewer', region: 'b' })
    const series = new CounterDeltas().pending(counters.snapshot())
    expect(byKey(series)['TokensIssued|Kind=viewer']).toBe(3)
  })

  test('a total below what was sent counts as a reset', () => {
    const deltas = new CounterDeltas()
    for (const s of deltas.pending([{ name: 'Heartbeats', dimensions: {}, value: 10 }])) deltas.markSent(s)
    expect(byKey(deltas.pending([{ name: 'Heartbeats', dimensions: {}, value: 4 }])).Heartbeats).toBe(4)
  })
})
