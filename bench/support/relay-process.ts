import { hostname } from 'node:os'
import { loadRelayConfig } from '../../relay/config'
import type { Fanout } from '../../relay/fanout'
import type { PublisherSession } from '../../relay/ingest/publisher'
import { startRelay } from '../../relay/main'
import { createLogger } from '../../src/log'
import { serveCalls } from './child'
import { DelaySamples } from './delay-samples'

export interface RelayInfo {
  pid: number
  relayUrl: string
  /** This wrapper's own HTTP server (not the product's): GET /snapshot[?reset=1][&delay=1][&gc=1]. */
  benchUrl: string
  publishSecret: string
}

/** The kernel floor of one forwarded packet on this machine: a bare 1,200-byte UDP send from this process to a socket in the peers process. */
export interface SendFloor {
  wallUsPerSend: number
  cpuUsPerSend: number
}

export interface RelaySnapshot {
  /** performance.now() of the relay process. */
  at: number
  /** process.cpuUsage() of the relay process (every thread, libdatachannel's included), µs. */
  cpuUs: number
  publisher: { session: string | null; packetsIn: number; bytesIn: number }
  /** The publisher session's ingest repair figures (gaps, NACKs, repairs, RTX, keyframe requests), as /health shows them; null without a publisher. */
  ingest: ReturnType<PublisherSession['stats']>['ingest'] | null
  stages: ReturnType<Fanout['stageSnapshots']>
  /**
   * Forwarding delays since the previous reset (packet arrival → handed to a stage's track, ms),
   * only with ?delay=1: sorting up to a window's samples costs the relay tens of ms of CPU, which
   * must not land in the window that a ?reset=1 snapshot starts, nor in every readiness poll.
   * `recorded` counts every sample; more than `samples` means the ring wrapped (the percentiles are
   * then those of the last `samples`).
   */
  delay: { p50: number; p99: number; max: number; samples: number; recorded: number } | null
  /**
   * Event-loop lag since the previous reset (with ?delay=1): how late a 10 ms timer fired, ms. A
   * packet waits about as long for its JS callback when the loop is busy, and that wait is not in
   * `delay` (which starts at the callback).
   */
  loopLag: { p50: number; p99: number; max: number } | null
  /** The fan-out pacer's counters (cumulative), and with ?delay=1 the waits of the packets it held since the reset, ms. */
  pacing: ReturnType<Fanout['pacingStats']>
  pacedWait: { p50: number; p99: number; max: number; samples: number } | null
  /** With ?floor=1 (before any media): SendFloor. */
  floor: SendFloor | null
}

/**
 * What a relay cannot go below per packet and stage here: one sendto of a 1,200-byte datagram (on
 * loopback that includes the receiving side's kernel work, which a NIC would not do), without SRTP,
 * libdatachannel or JS around it. Measured on this process's main thread, as the relay's sends are.
 */
async function measureSendFloor(port: number): Promise<SendFloor> {
  const socket = await Bun.udpSocket({})
  const packet = Buffer.alloc(1200, 0x80)
  const sends = 20_000
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < sends; i++) socket.send(packet, port, '127.0.0.1')
  const wall = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  socket.close()
  return { wallUsPerSend: (wall * 1000) / sends, cpuUsPerSend: (cpu.user + cpu.system) / sends }
}

/**
 * The relay under test, alone in this process so its CPU time is its own: startRelay exactly as
 * `ivs-fanout relay` runs it (production timeouts and backoff), except ICE on loopback only and
 * stage sessions held without a publisher too (feedWithoutPublisher). For the bench this wrapper
 * adds one thing the product does not have: a separate HTTP server on loopback
 * answering GET /snapshot with CPU time, per-stage counters and the forwarding-delay percentiles
 * in one atomic read (?reset=1 then starts a new delay window; ?delay=1 adds the percentiles; ?gc=1
 * runs a full garbage collection first).
 */
const config = loadRelayConfig({ ...process.env, API_PORT: '0' }, hostname())
if (!config.ok) throw new Error(`relay config: ${config.errors.join('; ')}`)
const logger = createLogger('warn', { mode: 'relay' })
// One sample per packet and stage: at 200 stages ~95,000/s (~425 video + 50 audio packets/s each),
// so 2^21 (16 MB) holds a 20 s window.
const delays = new DelaySamples(1 << 21)
let recorded = 0
const lags = new DelaySamples(1 << 16)
const pacedWaits = new DelaySamples(1 << 16)
const LAG_TICK_MS = 10
let lagDue = performance.now() + LAG_TICK_MS
setInterval(() => {
  const now = performance.now()
  lags.record(Math.max(0, now - lagDue))
  lagDue = now + LAG_TICK_MS
}, LAG_TICK_MS)
const relay = await startRelay({
  config: config.config,
  logger,
  bindAddress: '127.0.0.1',
  // The bench brings stages up before the publisher and keeps them across publishers (the loss
  // runs): it measures the fan-out, not the choice of the feeding relay (one relay here).
  feedWithoutPublisher: true,
  onForwarded: (ms) => {
    recorded++
    delays.record(ms)
  },
  onPaced: (ms) => pacedWaits.record(ms),
})

const bench = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(request) {
    const url = new URL(request.url)
    if (url.pathname !== '/snapshot') return new Response('not found', { status: 404 })
    // A full collection first (the bench's loss phase, after the load's stages are deleted).
    if (url.searchParams.get('gc') === '1') Bun.gc(true)
    const cpu = process.cpuUsage()
    const at = performance.now()
    const publisher = relay.fanout.publisherSession
    const withDelay = url.searchParams.get('delay') === '1'
    const snapshot: RelaySnapshot = {
      at,
      cpuUs: cpu.user + cpu.system,
      publisher: publisher
        ? { session: publisher.id, packetsIn: publisher.packetsIn, bytesIn: publisher.bytesIn }
        : { session: null, packetsIn: 0, bytesIn: 0 },
      ingest: publisher ? publisher.stats().ingest : null,
      stages: relay.fanout.stageSnapshots(),
      delay: withDelay ? { ...delays.percentiles(), max: delays.max, recorded } : null,
      loopLag: withDelay ? { ...lags.percentiles(), max: lags.max } : null,
      pacing: relay.fanout.pacingStats(),
      pacedWait: withDelay ? { ...pacedWaits.percentiles(), max: pacedWaits.max } : null,
      floor: url.searchParams.get('floor') === '1' ? await measureSendFloor(Number(process.env.BENCH_FLOOR_PORT)) : null,
    }
    if (url.searchParams.get('reset') === '1') {
      delays.reset()
      recorded = 0
      lags.reset()
      pacedWaits.reset()
    }
    return Response.json(snapshot)
  },
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))

serveCalls(
  async () => ({ pid: process.pid, relayUrl: relay.url, benchUrl: `http://127.0.0.1:${bench.port}`, publishSecret: relay.publishSecret }) satisfies RelayInfo,
)
