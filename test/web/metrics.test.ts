import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
// An independent parser of the Prometheus text format.
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { eventually } from '../support/eventually'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'
import { freshServer } from '../support/serve'

// For the relay's /metrics: serve + relay + stage endpoints.
let stack: RelayStack
beforeAll(async () => {
  stack = await startRelayStack()
}, 20_000)
afterAll(() => stack?.stop())

interface Family {
  name: string
  type: string
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string> }[]
}
const parse = (text: string) => new Map((parsePrometheusTextFormat(text) as Family[]).map((f) => [f.name, f]))

describe('GET /metrics', () => {
  test('serve: refused without credentials; API key or METRICS_TOKEN; valid Prometheus text with the fleet figures', async () => {
    // A server of its own: the figures below are exactly what this test did.
    await using serve = await freshServer({ METRICS_TOKEN: 'scraper-token-0123456789' })
    expect((await fetch(`${serve.url}/metrics`)).status).toBe(401)
    expect((await fetch(`${serve.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    for (let i = 0; i < 3; i++) await serve.api('/api/token/viewer', { method: 'POST', json: { userId: `m${i}` } })
    await serve.api('/api/token/viewer', { method: 'POST', json: {} }) // a 400
    const res = await fetch(`${serve.url}/metrics`, { headers: { authorization: 'Bearer scraper-token-0123456789' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4')
    const text = await res.text()
    const families = parse(text)
    expect(families.get('ivs_fanout_viewers')!.metrics[0]!.value).toBe('3')
    expect(families.get('ivs_fanout_stages')!.type).toBe('GAUGE')
    expect(families.get('ivs_fanout_tokens_issued_total')!.metrics.find((m) => m.labels?.kind === 'viewer')!.value).toBe('3')
    expect(families.get('ivs_fanout_errors_total')!.metrics.find((m) => m.labels?.code === 'VALIDATION_ERROR')).toBeDefined()
    expect(families.get('ivs_fanout_leader')!.metrics[0]!.value).toBe('1')
    const latency = families.get('ivs_fanout_http_request_duration_seconds')!
    expect(latency.type).toBe('HISTOGRAM')
    expect(latency.metrics.length).toBeGreaterThan(0)
    // (this parser keeps only the buckets of labelled histograms; the labelled count is checked in the text)
    expect(text).toContain('ivs_fanout_http_request_duration_seconds_count{method="POST",route="/api/token/viewer",status="200"} 3')
    expect((await fetch(`${serve.url}/metrics`, { headers: { 'x-api-key': serve.apiKey } })).status).toBe(200)
  })

  test('relay: per-stage state, packets, bytes and keyframe requests', async () => {
    const master = (await stack.serve.stages.master()).arn
    await eventually('stage live', () => stack.relay.fanout.liveStages().includes(master), 10_000)
    const publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await publisher.start()
    await eventually('media forwarded', () => stack.whip.record(master).videoPackets > 10, 5_000)
    expect((await fetch(`${stack.relay.url}/metrics`)).status).toBe(401)
    const text = await (await fetch(`${stack.relay.url}/metrics`, { headers: { 'x-api-key': stack.serve.apiKey } })).text()
    const families = parse(text)
    expect(families.get('ivs_fanout_relay_publisher_active')!.metrics[0]!.value).toBe('1')
    const live = families.get('ivs_fanout_relay_stage_state')!.metrics.find((m) => m.labels?.stage === master && m.labels?.state === 'live')!
    expect(live.value).toBe('1')
    expect(Number(families.get('ivs_fanout_relay_stage_packets_total')!.metrics.find((m) => m.labels?.stage === master)!.value)).toBeGreaterThan(10)
    expect(Number(families.get('ivs_fanout_relay_stage_bytes_total')!.metrics[0]!.value)).toBeGreaterThan(1000)
    expect(families.has('ivs_fanout_relay_stage_keyframe_requests_total')).toBe(true)
    await publisher.stop()
  }, 20_000)
})
