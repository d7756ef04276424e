/**
 * The dashboard's panels against the API: what each panel shows (read from the page: every element
 * with `data-field`, the value it stands for in `data-value`, its row's `data-key`, and the chart's
 * axes and lines) compared with what /api/stats, /api/stats/publisher, /api/stats/ivs and
 * /api/stats/history say. `panelProblems` is pure: it names every panel that is empty, or shows
 * something else, while the API has data for it (test/http/dashboard-panels-check.test.ts shows it
 * flags each one; test/browser/dashboard-panels.test.ts applies it to the real page).
 */

export interface FieldReading {
  field: string
  /** The row it is in (a relay's serverId, an operation, a stage ARN), or null. */
  key: string | null
  /** data-value: the raw value it stands for ('' when none). */
  value: string
  text: string
}

export interface ChartReading {
  /** Axis titles. */
  titles: string[]
  xTicks: string[]
  /** The count scale: each tick's value and where its grid line is drawn. */
  yTicks: { value: number; y: number }[]
  /** Polyline id → its points. */
  lines: Record<string, [number, number][]>
  /** The note on the chart's window (last hour, or since when). */
  note: string
}

export interface PanelReading {
  panel: string
  fields: FieldReading[]
  chart: ChartReading | null
}

/** What the API answered (the `data` of each). */
export interface ApiView {
  stats: any
  publisher: any
  ivs: any
  history: any
}

/** Runs in the page (self-contained: Playwright sends its source). */
export function readPanels(): PanelReading[] {
  return Array.from(document.querySelectorAll('[data-panel]') as NodeListOf<HTMLElement>).map((panel) => {
    const svg = panel.querySelector('svg')
    const texts = (selector: string) => (svg ? Array.from(svg.querySelectorAll(selector)).map((t) => (t.textContent ?? '').trim()) : [])
    const points = (p: Element): [number, number][] =>
      (p.getAttribute('points') ?? '')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((xy) => xy.split(',').map(Number) as [number, number])
    return {
      panel: panel.dataset.panel!,
      fields: Array.from(panel.querySelectorAll('[data-field]') as NodeListOf<HTMLElement>).map((el) => ({
        field: el.dataset.field!,
        key: (el.closest('[data-key]') as HTMLElement | null)?.dataset.key ?? null,
        value: el.dataset.value ?? '',
        text: (el.textContent ?? '').trim(),
      })),
      chart: svg
        ? {
            titles: texts('.title'),
            xTicks: texts('[data-axis=x] .tick'),
            // Each label with its grid line (drawn in pairs, bottom up).
            yTicks: Array.from(svg.querySelectorAll('[data-axis=y] .tick')).map((t, i) => ({
              value: Number(t.textContent),
              y: Number(svg.querySelectorAll('[data-axis=y] .grid')[i]?.getAttribute('y1')),
            })),
            lines: Object.fromEntries(Array.from(svg.querySelectorAll('polyline')).map((p) => [p.id, points(p)])),
            note: (panel.querySelector('#window')?.textContent ?? '').trim(),
          }
        : null,
    }
  })
}

/** Runs in the page: the panel as it was before any data came (every field back to '–', its rows and chart gone). */
export function blankPanel(name: string): void {
  const panel = document.querySelector(`[data-panel="${name}"]`)!
  for (const list of Array.from(panel.querySelectorAll('tbody, #stagelist, svg, .totals'))) list.replaceChildren()
  for (const el of Array.from(panel.querySelectorAll('[data-field]') as NodeListOf<HTMLElement>)) {
    el.textContent = '–'
    delete el.dataset.value
  }
}

/**
 * A script for page.evaluate: the panels as they are, and for each of `panels` as they would read
 * with that panel blank (then put back), all in one synchronous run so no update comes between.
 */
export function snapshotScript(panels: readonly string[]): string {
  return `(() => {
    const readPanels = ${readPanels.toString()}
    const blankPanel = ${blankPanel.toString()}
    const real = readPanels()
    const blanked = {}
    for (const name of ${JSON.stringify(panels)}) {
      const panel = document.querySelector('[data-panel="' + name + '"]')
      const before = panel.innerHTML
      blankPanel(name)
      blanked[name] = readPanels()
      panel.innerHTML = before
    }
    return { real, blanked }
  })()`
}

export const PANELS = ['viewers', 'seats', 'stages', 'publisher', 'chart', 'relays', 'ivs', 'stagelist'] as const

interface Expected {
  panel: string
  field: string
  key: string | null
  value: unknown
}

const COUNTS = new Set([
  'totalViewers',
  'used',
  'open',
  'ceiling',
  'subscriptionQuota',
  'activeStages',
  'maxStages',
  'repaired',
  'unrepaired',
  'live',
  'connecting',
  'backoff',
  'noMedia',
  'attempts',
  'ok',
  'throttled',
  'errors',
  'gateWaitMs',
  'viewers',
])

/** What the text must contain for `value` (counts as digits with or without separators). */
function shownAs(field: string, value: unknown): string | null {
  if (value === '' || value === null) return null
  if (COUNTS.has(field)) return String(value)
  if (field === 'lossRatio') return `${((value as number) * 100).toFixed(2)} %`
  if (field === 'keyframeIntervalMs') return `${((value as number) / 1000).toFixed(1)} s`
  if (field === 'active') return value ? 'live' : 'off'
  if (field === 'feed') return value === 'none' ? 'no feed' : String(value)
  if (field === 'lastHeartbeatAt') return 'ago'
  if (field === 'feeding') return 'feeding'
  return String(value)
}

/** Every field each panel must show, from the API's answers. */
export function expectedFields(api: ApiView): Expected[] {
  const { stats, publisher, ivs } = api
  const out: Expected[] = []
  const add = (panel: string, key: string | null, fields: Record<string, unknown>) => {
    for (const [field, value] of Object.entries(fields)) out.push({ panel, field, key, value })
  }
  add('viewers', null, { totalViewers: stats.totalViewers })
  add('seats', null, { used: stats.seats.used, open: stats.seats.open, ceiling: stats.seats.ceiling, subscriptionQuota: stats.seats.subscriptionQuota })
  add('stages', null, { activeStages: stats.activeStages, maxStages: stats.seats.maxStages })
  add('publisher', null, { active: publisher.active, feedingRelay: publisher.feedingRelay ?? '' })
  for (const r of publisher.relays) {
    add('relays', r.serverId, { serverId: r.serverId, state: r.state, lastHeartbeatAt: r.lastHeartbeatAt, ...(r.feeding ? { feeding: true } : {}) })
    if (r.ingest) {
      const { lossRatio, repaired, unrepaired, keyframeIntervalMs } = r.ingest
      add('relays', r.serverId, { lossRatio, repaired, unrepaired, keyframeIntervalMs: keyframeIntervalMs ?? '' })
    }
    if (r.stageSessions) add('relays', r.serverId, r.stageSessions)
  }
  const { attempts, ok, throttled, errors, gateWaitMs } = ivs.totals
  add('ivs', null, { attempts, ok, throttled, errors, gateWaitMs })
  for (const o of ivs.operations) {
    const { operation, ...counts } = o
    add('ivs', operation, { operation, ...counts })
  }
  for (const s of stats.stages) add('stagelist', s.stageArn, { viewers: s.viewers, feed: s.feed?.kind ?? 'none' })
  return out
}

const EMPTY = new Set(['', '–', '—'])

/** The count a chart line's point stands for, read off the y axis. */
function countAt(chart: ChartReading, y: number): number | null {
  const [a, b] = [chart.yTicks[0], chart.yTicks.at(-1)]
  if (!a || !b || a.y === b.y) return null
  return a.value + ((y - a.y) / (b.y - a.y)) * (b.value - a.value)
}

function chartProblems(chart: ChartReading | null, api: ApiView): string[] {
  if (!chart) return ['chart: no chart']
  const problems: string[] = []
  if (!chart.titles.some((t) => /count/.test(t))) problems.push('chart: no title on the count axis')
  if (!chart.titles.some((t) => /time/.test(t))) problems.push('chart: no title on the time axis')
  if (chart.xTicks.filter((t) => /^\d\d:\d\d$/.test(t)).length < 2) problems.push(`chart: time axis labels ${JSON.stringify(chart.xTicks)}`)
  if (chart.yTicks.length < 2 || chart.yTicks.some((t) => !Number.isFinite(t.value))) problems.push(`chart: count scale ${JSON.stringify(chart.yTicks)}`)
  const line = chart.lines.line ?? []
  if (line.length < 2) problems.push(`chart: the viewers line has ${line.length} points`)
  else {
    const now = countAt(chart, line.at(-1)![1])
    const top = Math.max(...chart.yTicks.map((t) => t.value))
    if (now === null || Math.abs(now - api.stats.totalViewers) > 0.5)
      problems.push(`chart: the viewers line ends at ${now}, the API says ${api.stats.totalViewers}`)
    if (top < api.stats.totalViewers) problems.push(`chart: the scale stops at ${top}, below ${api.stats.totalViewers}`)
  }
  if ((chart.lines['seats-line'] ?? []).length < 2) problems.push('chart: no open-seats line')
  const since = api.history.since === null ? null : Date.parse(api.history.since)
  const partial = since === null || since > Date.parse(api.history.now) - api.history.windowMs + 60_000
  if (partial && !/since \d\d:\d\d/.test(chart.note)) problems.push(`chart: the window note says "${chart.note}", not since when it has figures`)
  return problems
}

/** Every way the page falls short of the API: a panel or field missing, empty, or showing another value. Empty: none. */
export function panelProblems(readings: PanelReading[], api: ApiView): string[] {
  const problems: string[] = []
  const byPanel = new Map(readings.map((r) => [r.panel, r]))
  for (const e of expectedFields(api)) {
    const at = `${e.panel}: ${e.field}${e.key === null ? '' : `[${e.key}]`}`
    const panel = byPanel.get(e.panel)
    if (!panel) {
      problems.push(`${e.panel}: no such panel`)
      continue
    }
    const found = panel.fields.find((f) => f.field === e.field && f.key === e.key)
    const want = e.value === null ? '' : String(e.value)
    if (!found) problems.push(`${at} not shown`)
    else if (EMPTY.has(found.text)) problems.push(`${at} empty, the API says ${want}`)
    else if (found.value !== want) problems.push(`${at} stands for ${found.value}, the API says ${want}`)
    else {
      const shown = shownAs(e.field, e.value)
      if (shown !== null && !found.text.replace(/,/g, '').includes(shown)) problems.push(`${at} reads "${found.text}", not ${shown}`)
    }
  }
  problems.push(...chartProblems(byPanel.get('chart')?.chart ?? null, api))
  return [...new Set(problems)]
}
