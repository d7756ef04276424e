/**
 * The dashboard check (test/support/dashboard-panels.ts) must fail when a panel is empty while the
 * API has data for it: here on readings of a page built from the API's answers (as a correct page
 * shows them), then on variants with one panel emptied, a value off, or a chart that ends elsewhere.
 * The browser test applies the same check to the real page (and to it with each panel blanked).
 */
import { describe, expect, test } from 'bun:test'
import { type ApiView, type FieldReading, type PanelReading, panelProblems } from '../support/dashboard-panels'

const NOW = Date.UTC(2026, 10, 23, 12)
const iso = (ms: number) => new Date(ms).toISOString()
const ARN = (id: string) => `arn:aws:ivs:eu-west-1:123456789012:stage/${id}`

const API: ApiView = {
  stats: {
    totalViewers: 7,
    activeStages: 2,
    stages: [
      { stageArn: ARN('AAAA'), viewers: 4, capacity: 4, status: 'active', isMaster: true, feed: { kind: 'relay' } },
      { stageArn: ARN('BBBB'), viewers: 3, capacity: 4, status: 'active', isMaster: false, feed: null },
    ],
    seats: { used: 7, open: 8, ceiling: 80, maxStages: 20, stageCapacity: 4, subscriptionQuota: 20_000 },
  },
  publisher: {
    active: true,
    feedingRelay: 'relay-a',
    relays: [
      {
        serverId: 'relay-a',
        state: 'online',
        publisherActive: true,
        feeding: true,
        lastHeartbeatAt: iso(NOW - 800),
        ageMs: 800,
        ingest: { videoPackets: 2_000, missing: 61, repaired: 55, unrepaired: 6, lossRatio: 0.0296, keyframeIntervalMs: 1000 },
        stageSessions: { connecting: 0, live: 2, backoff: 0, noMedia: 0 },
      },
      {
        serverId: 'relay-b',
        state: 'online',
        publisherActive: false,
        feeding: false,
        lastHeartbeatAt: iso(NOW - 300),
        ageMs: 300,
        ingest: null,
        stageSessions: null,
      },
    ],
  },
  ivs: {
    provider: 'aws',
    since: iso(NOW - 60_000),
    totals: { attempts: 12, ok: 11, throttled: 1, errors: 0, gateWaitMs: 1_250 },
    operations: [
      { operation: 'CreateParticipantToken', attempts: 9, ok: 8, throttled: 1, errors: 0, gateWaitMs: 1_250 },
      { operation: 'CreateStage', attempts: 3, ok: 3, throttled: 0, errors: 0, gateWaitMs: 0 },
    ],
  },
  history: {
    intervalMs: 10_000,
    windowMs: 3_600_000,
    now: iso(NOW),
    since: iso(NOW - 120_000),
    samples: [
      { at: iso(NOW - 120_000), totalViewers: 0, openSeats: 4, activeStages: 1 },
      { at: iso(NOW - 10_000), totalViewers: 7, openSeats: 8, activeStages: 2 },
    ],
  },
}

const f = (field: string, value: unknown, text: string, key: string | null = null): FieldReading => ({ field, key, value: String(value), text })
const n = (v: number) => v.toLocaleString('en-US')

/** What a correct page shows for `api` (the formats of src/http/dashboard/dashboard.js). */
function readingsFor(api: ApiView): PanelReading[] {
  const { stats, publisher, ivs } = api
  const counts = (key: string | null, c: Record<string, number>) => Object.entries(c).map(([k, v]) => f(k, v, n(v), key))
  // y = 200 at 0, 20 px per viewer; a step line ending at the current count.
  const y = (v: number) => 200 - v * 20
  return [
    { panel: 'viewers', chart: null, fields: [f('totalViewers', stats.totalViewers, n(stats.totalViewers))] },
    {
      panel: 'seats',
      chart: null,
      fields: counts(null, { used: stats.seats.used, open: stats.seats.open, ceiling: stats.seats.ceiling, subscriptionQuota: stats.seats.subscriptionQuota }),
    },
    { panel: 'stages', chart: null, fields: counts(null, { activeStages: stats.activeStages, maxStages: stats.seats.maxStages }) },
    {
      panel: 'publisher',
      chart: null,
      fields: [
        f('active', publisher.active, publisher.active ? 'live' : 'off'),
        f('feedingRelay', publisher.feedingRelay ?? '', `fed by ${publisher.feedingRelay}`),
      ],
    },
    {
      panel: 'chart',
      fields: [],
      chart: {
        titles: ['count', 'time (local, last 60 min)'],
        xTicks: ['11:00', '11:15', '11:30', '11:45', '12:00'],
        yTicks: [0, 2, 4, 6, 8].map((v) => ({ value: v, y: y(v) })),
        lines: {
          'seats-line': [
            [700, y(4)],
            [790, y(8)],
          ],
          line: [
            [700, y(0)],
            [790, y(0)],
            [790, y(stats.totalViewers)],
            [800, y(stats.totalViewers)],
          ],
        },
        note: '· since 11:58 (this serve instance keeps the last hour from its start), filling to the last hour',
      },
    },
    {
      panel: 'relays',
      chart: null,
      fields: publisher.relays.flatMap((r: any) => [
        f('serverId', r.serverId, r.serverId, r.serverId),
        ...(r.feeding ? [f('feeding', true, 'feeding', r.serverId)] : []),
        f('state', r.state, r.state, r.serverId),
        f('lastHeartbeatAt', r.lastHeartbeatAt, `${(r.ageMs / 1000).toFixed(1)} s ago`, r.serverId),
        ...(r.ingest
          ? [
              f('lossRatio', r.ingest.lossRatio, `${(r.ingest.lossRatio * 100).toFixed(2)} % · ${r.ingest.missing} missing`, r.serverId),
              ...counts(r.serverId, { repaired: r.ingest.repaired, unrepaired: r.ingest.unrepaired }),
              f('keyframeIntervalMs', r.ingest.keyframeIntervalMs, `${(r.ingest.keyframeIntervalMs / 1000).toFixed(1)} s`, r.serverId),
            ]
          : [f('lossRatio', '', 'not reported', r.serverId)]),
        ...(r.stageSessions ? Object.entries(r.stageSessions).map(([k, v]) => f(k, v, `${v} ${k}`, r.serverId)) : []),
      ]),
    },
    {
      panel: 'ivs',
      chart: null,
      fields: [
        ...Object.entries(ivs.totals).map(([k, v]) => f(k, v, `${n(v as number)} ${k}`)),
        ...ivs.operations.flatMap(({ operation, ...c }: any) => [f('operation', operation, operation, operation), ...counts(operation, c)]),
      ],
    },
    {
      panel: 'stagelist',
      chart: null,
      fields: stats.stages.flatMap((s: any) => [
        f('feed', s.feed?.kind ?? 'none', s.feed ? s.feed.kind : 'no feed', s.stageArn),
        f('viewers', s.viewers, `${s.viewers} / ${s.capacity}`, s.stageArn),
      ]),
    },
  ]
}

/** The readings with one panel as a page shows it before any data: its fields '–', its rows and lines gone. */
function emptied(readings: PanelReading[], name: string): PanelReading[] {
  return readings.map((r) => {
    if (r.panel !== name) return r
    const fields = r.fields.filter((x) => x.key === null).map((x) => ({ ...x, text: '–', value: '' }))
    const chart = r.chart && { ...r.chart, xTicks: [], yTicks: [], lines: { line: [], 'seats-line': [] }, titles: [], note: '' }
    return { ...r, fields, chart }
  })
}

describe('the dashboard check', () => {
  test('passes a page that shows what the API says', () => {
    expect(panelProblems(readingsFor(API), API)).toEqual([])
  })

  for (const panel of ['viewers', 'seats', 'stages', 'publisher', 'chart', 'relays', 'ivs', 'stagelist']) {
    test(`fails when the ${panel} panel is empty while the API has data for it`, () => {
      const problems = panelProblems(emptied(readingsFor(API), panel), API)
      expect(problems.length).toBeGreaterThan(0)
      // Only that panel is named.
      expect(problems.filter((p) => !p.startsWith(`${panel}:`))).toEqual([])
    })
    test(`fails when the ${panel} panel is missing`, () => {
      const problems = panelProblems(
        readingsFor(API).filter((r) => r.panel !== panel),
        API,
      )
      expect(problems.some((p) => p.startsWith(`${panel}:`))).toBe(true)
    })
  }

  test('fails on a value the API does not say, or a text that does not show it', () => {
    const good = readingsFor(API)
    const edit = (panel: string, field: string, change: Partial<FieldReading>, key: string | null = null) =>
      good.map((r) => (r.panel === panel ? { ...r, fields: r.fields.map((x) => (x.field === field && x.key === key ? { ...x, ...change } : x)) } : r))
    expect(panelProblems(edit('relays', 'lossRatio', { value: '0.01' }, 'relay-a'), API)).toEqual([
      'relays: lossRatio[relay-a] stands for 0.01, the API says 0.0296',
    ])
    expect(panelProblems(edit('relays', 'keyframeIntervalMs', { text: '2.0 s' }, 'relay-a'), API)).toEqual([
      'relays: keyframeIntervalMs[relay-a] reads "2.0 s", not 1.0 s',
    ])
    expect(panelProblems(edit('ivs', 'throttled', { text: '0 throttled' }), API)).toEqual(['ivs: throttled reads "0 throttled", not 1'])
    expect(panelProblems(edit('publisher', 'feedingRelay', { value: 'relay-b' }), API)).toEqual([
      'publisher: feedingRelay stands for relay-b, the API says relay-a',
    ])
    // A relay row without its feeding mark.
    const unmarked = good.map((r) => (r.panel === 'relays' ? { ...r, fields: r.fields.filter((x) => x.field !== 'feeding') } : r))
    expect(panelProblems(unmarked, API)).toEqual(['relays: feeding[relay-a] not shown'])
  })

  test('fails on a chart without axes, a line that ends at another count, or no word on a window shorter than the hour', () => {
    const good = readingsFor(API)
    const chart = (change: Record<string, unknown>) => good.map((r) => (r.panel === 'chart' ? { ...r, chart: { ...r.chart!, ...change } } : r))
    expect(panelProblems(chart({ titles: ['time (local, last 60 min)'] }), API)).toEqual(['chart: no title on the count axis'])
    expect(panelProblems(chart({ xTicks: ['', ''] }), API)).toEqual(['chart: time axis labels ["",""]'])
    expect(
      panelProblems(
        chart({
          lines: {
            ...good[4]!.chart!.lines,
            line: [
              [700, 200],
              [800, 180],
            ],
          },
        }),
        API,
      ),
    ).toEqual(['chart: the viewers line ends at 1, the API says 7'])
    expect(panelProblems(chart({ note: '· last hour' }), API)).toEqual(['chart: the window note says "· last hour", not since when it has figures'])
    // A full hour of figures needs no such word.
    const fullHour = { ...API, history: { ...API.history, since: iso(NOW - 3_600_000) } }
    expect(panelProblems(chart({ note: '· last hour' }), fullHour)).toEqual([])
  })

  test('asks nothing the API has no data for: no relay, no IVS calls', () => {
    const quiet: ApiView = {
      ...API,
      publisher: { active: false, feedingRelay: null, relays: [] },
      ivs: { ...API.ivs, provider: 'local', totals: { attempts: 0, ok: 0, throttled: 0, errors: 0, gateWaitMs: 0 }, operations: [] },
    }
    const readings = readingsFor(quiet).map((r) =>
      r.panel === 'publisher' ? { ...r, fields: [f('active', false, 'off'), f('feedingRelay', '', 'no relay feeds the stages')] } : r,
    )
    expect(panelProblems(readings, quiet)).toEqual([])
  })
})
