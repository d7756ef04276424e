import { hostname } from 'node:os'
import { loadRelayConfig } from '../../relay/config'
import type { Fanout } from '../../relay/fanout'
import { startRelay } from '../../relay/main'
import { createLogger } from '../../src/log'
import { serveCalls } from './child'
import { DelaySamples } from './delay-samples'

export interface RelayInfo {
  pid: number
  relayUrl: string
  /** This wrapper's own HTTP server (not the product's): GET /snapshot[?reset=1]. */
  benchUrl: string
  publishSecret: string
}

export interface RelaySnapshot {
  /** performance.now() of the relay process. */
  at: number
  /** process.cpuUsage() of the relay process (every thread, libdatachannel's included), µs. */
  cpuUs: number
  publisher: { session: string | null; packetsIn: number; bytesIn: number }
  stages: ReturnType<Fanout['stageSnapshots']>
  /** Forwarding delays since the previous reset: packet arrival → handed to a stage's track, ms. */
  delay: { p50: number; p99: number; max: number; samples: number }
}

/**
 * The relay under test, alone in this process so its CPU time is its own: startRelay exactly as
 * `ivs-fanout relay` runs it (production timeouts and backoff), except ICE on loopback only. For the
 * bench this wrapper adds one thing the product does not have: a separate HTTP server on loopback
 * answering GET /snapshot with CPU time, per-stage counters and the forwarding-delay percentiles
 * in one atomic read (?reset=1 then starts a new delay window).
 */
const config = loadRelayConfig({ ...process.env, API_PORT: '0' }, hostname())
if (!config.ok) throw new Error(`relay config: ${config.errors.join('; ')}`)
const logger = createLogger('warn', { mode: 'relay' })
// Room for a whole window at 20 stages (~8,500 samples/s).
const delays = new DelaySamples(1 << 20)
const relay = await startRelay({ config: config.config, logger, bindAddress: '127.0.0.1', onForwarded: (ms) => delays.record(ms) })

const bench = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch(request) {
    const url = new URL(request.url)
    if (url.pathname !== '/snapshot') return new Response('not found', { status: 404 })
    const cpu = process.cpuUsage()
    const at = performance.now()
    const publisher = relay.fanout.publisherSession
    const snapshot: RelaySnapshot = {
      at,
      cpuUs: cpu.user + cpu.system,
      publisher: publisher
        ? { session: publisher.id, packetsIn: publisher.packetsIn, bytesIn: publisher.bytesIn }
        : { session: null, packetsIn: 0, bytesIn: 0 },
      stages: relay.fanout.stageSnapshots(),
      delay: { ...delays.percentiles(), max: delays.max },
    }
    if (url.searchParams.get('reset') === '1') delays.reset()
    return Response.json(snapshot)
  },
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))

serveCalls(
  async () => ({ pid: process.pid, relayUrl: relay.url, benchUrl: `http://127.0.0.1:${bench.port}`, publishSecret: relay.publishSecret }) satisfies RelayInfo,
)
