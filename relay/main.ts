import { hostname } from 'node:os'
import { type Clock, monotonicClock, systemClock } from '../src/clock'
import { randomSecret } from '../src/ids'
import type { Logger } from '../src/log'
import { Counters } from '../src/metrics/counters'
import { systemTicker, type Ticker } from '../src/ticker'
import { DEFAULT_STOP_GRACE_MS, drainFor, type StopOptions, stopServer } from '../src/web/drain'
import { DEFAULT_GUESS_POLICY, GuessBudget } from '../src/web/guess-budget'
import { Listener } from '../src/web/listener'
import { RateLimiter } from '../src/web/rate-limiter'
import type { RelayConfig } from './config'
import { CONTROL_BACKOFF, ControlPlane } from './control/control-plane'
import { FEEDING_LINGER_MS, FeedingSwitch } from './control/feeding'
import { ControlLink } from './control/link'
import { RelayRegistration } from './control/registration'
import { Fanout } from './fanout'
import { buildRelayApp } from './http/app'
import { PublicAddresses } from './ingest/public-addresses'
import { holdMuxPort } from './peer'

export interface RelayHandle {
  app: ReturnType<typeof buildRelayApp>
  port: number
  /** http(s)://127.0.0.1:<port> */
  url: string
  /** SIGHUP: serve new connections with the certificate files as they are now. */
  reloadTls(): Promise<boolean>
  publishSecret: string
  fanout: Fanout
  /** Registered with the API server? Following its events? (What /health and /health/ready report.) */
  link: ControlLink
  /**
   * Drains for `drainMs` (readiness 503, every response `Connection: close`; media keeps flowing),
   * then WHIP DELETE on every stage, stops accepting and lets in-flight requests finish (up to `graceMs`).
   */
  stop(options?: StopOptions): Promise<void>
}

export interface RelayOptions {
  config: RelayConfig
  logger: Logger
  announce?: (line: string) => void
  /** Tests: ICE on loopback only, faster retries. */
  bindAddress?: string
  backoff?: { baseMs: number; capMs: number }
  /** Registration retries and event-socket reconnects (default 500 ms doubling up to 15 s). */
  controlBackoff?: { baseMs: number; capMs: number }
  feedbackTimeoutMs?: number
  mediaTimeoutMs?: number
  /** A publisher session that has not connected (ICE + DTLS) this long after its offer is closed, freeing the slot (default 10 s). */
  publisherConnectTimeoutMs?: number
  /** Per forwarded packet and stage: ms from its release by the pacer to handed to the stage's track (benchmarks). */
  onForwarded?(delayMs: number): void
  /** Per video packet: ms it waited in the pacer (benchmarks). */
  onPaced?(waitMs: number): void
  /** NACK the publisher's lost video (default on; tests and the loss benchmark turn it off to show the damage). */
  repair?: boolean
  /** Wall-clock time (uptime, rate limits, guess budget, sender reports); default the system's. */
  clock?: Clock
  /** Heartbeats and stage syncs (default real intervals). */
  ticker?: Ticker
  /**
   * Tests and benchmarks: hold stage sessions without a publisher too (every relay did before issue
   * 21), unless serve says another relay feeds. Default: only with a publisher, or when serve says so.
   */
  feedWithoutPublisher?: boolean
  /** How long stage sessions outlive the publisher while no other relay feeds (default 10 s). */
  feedingLingerMs?: number
}

/** Composition root of relay mode. */
export async function startRelay(options: RelayOptions): Promise<RelayHandle> {
  const { config, logger } = options
  const clock = options.clock ?? systemClock
  let publishSecret = config.publishSecret
  if (publishSecret === null) {
    publishSecret = randomSecret(24)
    options.announce?.(`No PUBLISH_SECRET set: this run's publish secret (WHIP bearer token) is ${publishSecret}`)
  }
  // The port the relay reports is the one it really listens on (config may say 0).
  let control: ControlPlane | null = null
  const api = () => control!
  let registration: RelayRegistration | null = null
  const feeding = new FeedingSwitch(
    { serverId: config.serverId, lingerMs: options.feedingLingerMs ?? FEEDING_LINGER_MS, withoutPublisher: options.feedWithoutPublisher },
    monotonicClock,
  )
  // WEBRTC_UDP_PORT is opened now and held until stop: a port in use fails the start, not the first offer.
  const muxPort = config.webrtcUdpPort ?? undefined
  const portHold = muxPort ? holdMuxPort({ bindAddress: options.bindAddress, muxPort }) : null
  if (muxPort) logger.info('WebRTC ingest on one UDP port', { udpPort: muxPort, publicHosts: config.webrtcPublicHosts })
  const fanout = new Fanout({
    grant: (arn) => api().grant(arn),
    logger,
    bindAddress: options.bindAddress,
    muxPort,
    publicAddresses: config.webrtcPublicHosts.length > 0 ? new PublicAddresses(config.webrtcPublicHosts, logger) : undefined,
    backoff: options.backoff,
    feedbackTimeoutMs: options.feedbackTimeoutMs,
    mediaTimeoutMs: options.mediaTimeoutMs,
    connectTimeoutMs: options.publisherConnectTimeoutMs,
    onForwarded: options.onForwarded,
    onPaced: options.onPaced,
    repair: options.repair,
    wallClock: clock,
    onPublisherChange: () => registration?.publisherChanged(),
  })
  const counters = new Counters()
  const link = new ControlLink(config.apiServerUrl)
  const controlBackoff = options.controlBackoff ?? CONTROL_BACKOFF
  for (const warning of config.warnings) logger.warn(warning)
  const app = buildRelayApp({
    fanout,
    rateLimiter: new RateLimiter(config.rateLimit, clock),
    guesses: new GuessBudget({ ...DEFAULT_GUESS_POLICY, budget: config.authFailureLimit }, clock),
    trustProxy: config.trustProxy,
    bodyTimeoutMs: config.bodyTimeoutMs,
    publishSecret,
    logger,
    counters,
    startedAt: clock.now(),
    clock,
    serverId: config.serverId,
    link,
    feeding,
    apiKey: config.apiSecretKey,
    previousApiKey: config.apiSecretKeyPrevious,
    metricsToken: config.metricsToken,
    checks: [{ name: 'api', kind: 'http', check: async () => void (await api().stages()) }],
  })
  const listener = await Listener.start(app, { port: config.port, tls: config.tls, logger })
  control = new ControlPlane({ ...config, port: listener.listeningPort }, logger, { backoff: controlBackoff })

  registration = new RelayRegistration(
    { api: control, stages: fanout, feeding, link, ticker: options.ticker ?? systemTicker, logger },
    {
      serverId: config.serverId,
      apiServerUrl: config.apiServerUrl,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      stageSyncIntervalMs: config.stageSyncIntervalMs,
      enableAutoSync: config.enableAutoSync,
      backoff: controlBackoff,
    },
  )
  await registration.start()
  logger.info('relay serving', { port: listener.listeningPort, scheme: listener.scheme, serverId: config.serverId, host: hostname() })

  let stopping: Promise<void> | null = null
  return {
    app,
    port: listener.listeningPort,
    url: listener.url,
    reloadTls: () => listener.reloadTls(),
    publishSecret,
    fanout,
    link,
    stop({ drainMs = 0, graceMs = DEFAULT_STOP_GRACE_MS } = {}) {
      stopping ??= (async () => {
        if (drainMs > 0) logger.info('draining', { drainMs })
        await drainFor(app.store.drain, drainMs)
        registration?.stop()
        // WHIP DELETE on every stage session, then the publisher.
        await fanout.stop()
        portHold?.close()
        await registration?.farewell()
        await stopServer(listener.server, graceMs)
        logger.info('relay stopped')
      })()
      return stopping
    },
  }
}
