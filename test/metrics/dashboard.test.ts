/**
 * docs/monitoring/grafana-dashboard.json and the alert rules (docs/monitoring/ivs-fanout.rules.yml)
 * name only series the product exports: every metric name in every panel's `targets[].expr` and in
 * every rule's `expr` is a family that serve's or the relay's /metrics declares (a histogram's
 * `_bucket`, `_sum` and `_count` included), read from a real scrape of both here (serve and the
 * relay given API_SECRET_KEY_PREVIOUS, so the series that exist only while it is set are declared),
 * so a renamed metric fails this test; or one of Prometheus's own per-target series (PROMETHEUS_OWN).
 * (test/e2e/monitoring.test.ts runs every panel's query on a real Prometheus.)
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../support/process'
import { type RelayStack, startRelayStack } from '../support/relay-stack'

const DASHBOARD = join(ROOT, 'docs/monitoring/grafana-dashboard.json')
const RULES = join(ROOT, 'docs/monitoring/ivs-fanout.rules.yml')

interface Panel {
  id: number
  type: string
  title: string
  datasource?: { type: string; uid: string }
  gridPos: { h: number; w: number; x: number; y: number }
  targets?: { refId: string; expr: string; legendFormat?: string; datasource?: { uid: string } }[]
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; templating: { list: { name: string; type: string }[] }; panels: Panel[] }
const panels = dashboard.panels.filter((p) => p.type !== 'row')
/** Grafana's reference to the dashboard's Prometheus variable (a Grafana placeholder, not a template string). */
const DATASOURCE_VARIABLE = ['$', '{datasource}'].join('')
/** Series Prometheus adds for every target it scrapes, not the product: a rule may read them (IvsFanoutTargetDown). */
const PROMETHEUS_OWN = new Set(['up'])
const rules = (Bun.YAML.parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules)

/** PromQL words that are not metric names: keywords, binary operators, and the label lists' and modifiers' heads. */
const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2'])

/**
 * The metric names a PromQL expression reads: identifiers left once strings, label matchers
 * (`{…}`), ranges (`[…]`) and label lists (`by (…)`, `on (…)`, …) are taken out, that are not
 * a function (followed by `(`), a keyword or part of a number or duration.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ')
  const names = new Set<string>()
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = bare[m.index - 1] ?? ' '
    if (/[0-9.]/.test(before)) continue
    if (
      bare
        .slice(m.index + m[0].length)
        .trimStart()
        .startsWith('(')
    )
      continue
    if (NOT_METRICS.has(m[0].toLowerCase())) continue
    names.add(m[0])
  }
  return [...names].sort()
}

/** The names a /metrics text declares (`# TYPE`), with a histogram's three series. */
function declaredNames(text: string): Set<string> {
  const names = new Set<string>()
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!)
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix)
  }
  return names
}

describe('the PromQL metric-name reader', () => {
  test('names, not functions, keywords, labels, strings, durations or numbers', () => {
    expect(metricNames('histogram_quantile(0.9, sum by (operation, le) (rate(ivs_fanout_ivs_gate_wait_seconds_bucket{job="a", le!="+Inf"}[5m])))')).toEqual([
      'ivs_fanout_ivs_gate_wait_seconds_bucket',
    ])
    expect(metricNames('max(ivs_fanout_viewers) > 0 and max(ivs_fanout_publisher_active) == 0')).toEqual(['ivs_fanout_publisher_active', 'ivs_fanout_viewers'])
    expect(metricNames('(max(ivs_fanout_leader) or vector(0)) < 1')).toEqual(['ivs_fanout_leader'])
    expect(metricNames('sum(rate(a_total[$__rate_interval] offset 1h)) by (job) / on (job) group_left (x) b * 1e3 unless c')).toEqual(['a_total', 'b', 'c'])
    expect(metricNames('sum by (reason) (increase(x_total{reason!="not-publishing"}[5m])) > bool 0')).toEqual(['x_total'])
  })
})

describe('the dashboard and the alert rules name exported series', () => {
  let stack: RelayStack
  let exported: Set<string>
  beforeAll(async () => {
    // Both keys in both modes: ivs_fanout_api_key_previous_used_total is exported only while the previous key is set.
    const keys = { API_SECRET_KEY: 'dashboard-test-api-key-0123456789', API_SECRET_KEY_PREVIOUS: 'dashboard-test-old-key-0123456789' }
    stack = await startRelayStack({ serveEnv: keys, relayEnv: keys })
    const scrape = async (url: string) => {
      const res = await fetch(`${url}/metrics`, { headers: { 'x-api-key': stack.serve.apiKey } })
      expect(res.status).toBe(200)
      return res.text()
    }
    exported = new Set([...declaredNames(await scrape(stack.serve.url)), ...declaredNames(await scrape(stack.relay.url))])
  }, 20_000)
  afterAll(() => stack?.stop())

  test('the scrapes declare what the dashboard needs (a sanity check of the reader above)', () => {
    for (const name of [
      'ivs_fanout_viewers',
      'ivs_fanout_relay_stage_state',
      'ivs_fanout_http_request_duration_seconds_bucket',
      'ivs_fanout_ivs_calls_total',
      'ivs_fanout_api_key_previous_used_total',
    ])
      expect({ name, exported: exported.has(name) }).toEqual({ name, exported: true })
    expect(exported.has('ivs_fanout_no_such_metric')).toBe(false)
  })

  test('every metric name in every panel query is exported by serve or the relay', () => {
    const unknown = panels.flatMap((p) =>
      (p.targets ?? []).flatMap((t) =>
        metricNames(t.expr)
          .filter((n) => !exported.has(n))
          .map((n) => `${p.title}: ${n}`),
      ),
    )
    expect(unknown).toEqual([])
  })

  test('every metric name in every alert rule is exported by serve or the relay', () => {
    expect(rules.length).toBeGreaterThan(0)
    const unknown = rules.flatMap((r) =>
      metricNames(r.expr)
        .filter((n) => !exported.has(n) && !PROMETHEUS_OWN.has(n))
        .map((n) => `${r.alert}: ${n}`),
    )
    expect(unknown).toEqual([])
  })
})

describe('the dashboard', () => {
  test('every panel but the rows has queries; ids unique; each query on the dashboard’s Prometheus variable; the grid 24 wide', () => {
    expect(dashboard.uid).toBe('ivs-fanout')
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }))
    const ids = dashboard.panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const p of panels) {
      expect({ panel: p.title, targets: (p.targets ?? []).length > 0 }).toEqual({ panel: p.title, targets: true })
      expect(p.datasource?.uid).toBe(DATASOURCE_VARIABLE)
      const refIds = p.targets!.map((t) => t.refId)
      expect(new Set(refIds).size).toBe(refIds.length)
      for (const t of p.targets!) {
        expect(t.expr.trim().length).toBeGreaterThan(0)
        expect(t.datasource?.uid).toBe(DATASOURCE_VARIABLE)
      }
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24)
    }
  })

  test('it shows viewers, stages, seats against capacity, the publisher and the feeding relay, replications, IVS quota use, relay ingest loss, repairs and keyframe interval, stage sessions by state, request rates and errors', () => {
    const used = new Set(panels.flatMap((p) => p.targets!.flatMap((t) => metricNames(t.expr))))
    const wanted = [
      'ivs_fanout_viewers',
      'ivs_fanout_stages',
      'ivs_fanout_seats',
      'ivs_fanout_capacity_exhausted',
      'ivs_fanout_publisher_active',
      'ivs_fanout_relay_publisher_active',
      'ivs_fanout_replications_active',
      'ivs_fanout_replication_refusals_total',
      'ivs_fanout_ivs_quota_utilisation',
      'ivs_fanout_relay_ingest_missing_packets_total',
      'ivs_fanout_relay_ingest_repaired_total',
      'ivs_fanout_relay_ingest_unrepaired_total',
      'ivs_fanout_relay_publisher_keyframe_interval_seconds',
      'ivs_fanout_relay_stage_state',
      'ivs_fanout_http_request_duration_seconds_count',
      'ivs_fanout_errors_total',
    ]
    expect(wanted.filter((name) => !used.has(name))).toEqual([])
  })
})
