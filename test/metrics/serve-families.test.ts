/**
 * What serve's /metrics says when its store does not answer (`ivs_fanout_store_up`, the scrape still
 * answering), the seats gauge, and the counters exported from the start (SERVE_COUNTERS): each
 * family there before anything is counted, label-free ones and the replication refusal reasons at 0,
 * and every name the code counts declared.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Glob } from 'bun'
// An independent parser of the Prometheus text format.
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { SERVE_COUNTERS } from '../../src/http/fleet-metrics'
import { MemoryStore } from '../../src/store/memory'
import type { Store } from '../../src/store/types'
import { ERROR_COUNTERS } from '../../src/web/metrics'
import { eventually } from '../support/eventually'
import { ROOT } from '../support/process'
import { freshServer } from '../support/serve'

interface Family {
  name: string
  type: string
  metrics: { labels?: Record<string, string>; value?: string }[]
}
const parse = (text: string) => new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]))

/** A memory store that stops answering (every call rejects, as an unreachable Redis's do; `describe` is no call) while `down` is set. */
function switchableStore(): { store: Store; setDown(down: boolean): void } {
  const inner = new MemoryStore()
  let down = false
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || property === 'describe') return value
      return (...args: unknown[]) => (down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')) : value.apply(target, args))
    },
  }) as Store
  return { store, setDown: (value) => void (down = value) }
}

describe("serve's /metrics without its store", () => {
  test('the store down: 200 with ivs_fanout_store_up 0 and none of the figures read from it; back up: 1 and the figures (within the checks’ 2 s reuse)', async () => {
    const { store, setDown } = switchableStore()
    await using serve = await freshServer({}, { store })
    const scrape = async () => {
      const res = await serve.api('/metrics')
      return { status: res.status, families: parse(await res.text()) }
    }
    const up = await scrape()
    expect(up.status).toBe(200)
    expect(up.families.get('ivs_fanout_store_up')!.metrics[0]!.value).toBe('1')
    expect(up.families.has('ivs_fanout_viewers')).toBe(true)

    setDown(true)
    // The readiness check's answer is reused for up to 2 s; this scrape's own read fails at once.
    const down = await scrape()
    expect(down.status).toBe(200)
    expect(down.families.get('ivs_fanout_store_up')!.metrics[0]!.value).toBe('0')
    for (const name of ['ivs_fanout_viewers', 'ivs_fanout_seats', 'ivs_fanout_stages', 'ivs_fanout_publisher_active', 'ivs_fanout_capacity_exhausted'])
      expect({ name, present: down.families.has(name) }).toEqual({ name, present: false })
    // What the instance knows without the store is still there.
    expect(down.families.has('ivs_fanout_leader')).toBe(true)
    expect(down.families.has('ivs_fanout_tokens_issued_total')).toBe(true)
    expect((await serve.api('/health/ready')).status).toBe(503)

    setDown(false)
    await eventually('store_up back to 1', async () => (await scrape()).families.get('ivs_fanout_store_up')?.metrics[0]?.value === '1', 5_000, 100)
    expect((await scrape()).families.has('ivs_fanout_viewers')).toBe(true)
  })
})

describe("serve's gauges and counters", () => {
  test('ivs_fanout_seats is the capacity of the active stages (as GET /api/stats/viewers says)', async () => {
    await using serve = await freshServer({ STAGE_CAPACITY: '2' })
    for (let i = 0; i < 3; i++) expect((await serve.api('/api/token/viewer', { method: 'POST', json: { userId: `s${i}` } })).status).toBe(200)
    const families = parse(await (await serve.api('/metrics')).text())
    const viewers = (await (await serve.api('/api/stats/viewers')).json()).data
    expect(viewers.seats).toBe(4)
    expect(families.get('ivs_fanout_seats')!.metrics[0]!.value).toBe('4')
    expect(families.get('ivs_fanout_viewers')!.metrics[0]!.value).toBe('3')
  })

  test('before anything is counted every declared counter is a family; label-free ones and each replication refusal reason are 0; a count adds to its zero', async () => {
    await using serve = await freshServer()
    const text = await (await serve.api('/metrics')).text()
    const families = parse(text)
    for (const [counter, spec] of Object.entries(SERVE_COUNTERS)) {
      const name = `ivs_fanout_${counter.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()}_total`
      expect(text).toContain(`# TYPE ${name} counter\n`)
      expect(text).toContain(`# HELP ${name} ${spec.help} (this instance, since start)\n`)
    }
    for (const name of ['heartbeats', 'scale_ups', 'scale_downs', 'stage_quota_exceeded', 'replication_starts'])
      expect(families.get(`ivs_fanout_${name}_total`)!.metrics).toEqual([{ value: '0' }])
    expect(families.get('ivs_fanout_replication_refusals_total')!.metrics.map((m) => [m.labels!.reason, m.value])).toEqual([
      ['not-publishing', '0'],
      ['replication-quota', '0'],
      ['not-found', '0'],
      ['invalid', '0'],
      ['error', '0'],
    ])
    // Label sets not known in advance: the family's lines, no samples (the parser drops such a family).
    expect(text).toContain('# TYPE ivs_fanout_ivs_calls_total counter\n# HELP')
    serve.counters.add('ReplicationRefusals', 2, { reason: 'replication-quota' })
    serve.counters.add('Heartbeats', 3)
    const after = parse(await (await serve.api('/metrics')).text())
    expect(after.get('ivs_fanout_heartbeats_total')!.metrics).toEqual([{ value: '3' }])
    const refusals = after.get('ivs_fanout_replication_refusals_total')!.metrics
    expect(refusals.length).toBe(5)
    expect(refusals.find((m) => m.labels!.reason === 'replication-quota')!.value).toBe('2')
  })

  test("every counter the code counts (counters.add('Name', …) in src/ and relay/) is declared: serve's in SERVE_COUNTERS, the relay's in ERROR_COUNTERS", () => {
    const counted = (folder: string) => {
      const names = new Set<string>()
      for (const file of new Glob(`${folder}/**/*.ts`).scanSync(ROOT))
        for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/counters\.add\(\s*'(\w+)'/g)) names.add(m[1]!)
      return [...names].sort()
    }
    const serveCounted = counted('src')
    expect(serveCounted.length).toBeGreaterThan(5)
    expect(serveCounted.filter((name) => !(name in SERVE_COUNTERS))).toEqual([])
    expect(Object.keys(SERVE_COUNTERS).filter((name) => !serveCounted.includes(name))).toEqual([])
    // The relay counts only what its HTTP pipeline does (src/web/envelope.ts, counted in src/ above).
    expect(counted('relay')).toEqual([])
    expect(Object.keys(ERROR_COUNTERS)).toEqual(['Errors'])
  })
})
