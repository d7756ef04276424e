import { hostname } from 'node:os'
import { systemClock } from '../src/clock'
import { describeError } from '../src/errors'
import { randomSecret } from '../src/ids'
import type { Logger } from '../src/log'
import { Counters } from '../src/metrics/counters'
import { DEFAULT_STOP_GRACE_MS, drainFor, type StopOptions, stopServer } from '../src/web/drain'
import { DEFAULT_GUESS_POLICY, GuessBudget } from '../src/web/guess-budget'
import { RateLimiter } from '../src/web/rate-limiter'
import { listenOptions } from '../src/web/request-limits'
import { buildRelayApp } from './app'
import { backoffDelay } from './backoff'
import type { RelayConfig } from './config'
import { CONTROL_BACKOFF, ControlPlane, ControlPlaneError } from './control-plane'
import { Fanout } from './fanout'
import { ControlLink } from './health'

export interface RelayHandle {
  app: ReturnType<typeof buildRelayApp>
  port: number
  url: string
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
}

/** Composition root of relay mode. */
export async function startRelay(options: RelayOptions): Promise<RelayHandle> {
  const { config, logger } = options
  let publishSecret = config.publishSecret
  if (publishSecret === null) {
    publishSecret = randomSecret(24)
    options.announce?.(`No PUBLISH_SECRET set: this run's publish secret (WHIP bearer token) is ${publishSecret}`)
  }
  // The port the relay reports is the one it really listens on (config may say 0).
  let control: ControlPlane | null = null
  const api = () => control!
  const fanout = new Fanout({
    grant: (arn) => api().grant(arn),
    logger,
    bindAddress: options.bindAddress,
    backoff: options.backoff,
    feedbackTimeoutMs: options.feedbackTimeoutMs,
    mediaTimeoutMs: options.mediaTimeoutMs,
    connectTimeoutMs: options.publisherConnectTimeoutMs,
    onForwarded: options.onForwarded,
    onPaced: options.onPaced,
    repair: options.repair,
  })
  const counters = new Counters()
  const link = new ControlLink(config.apiServerUrl)
  const controlBackoff = options.controlBackoff ?? CONTROL_BACKOFF
  for (const warning of config.warnings) logger.warn(warning)
  const app = buildRelayApp({
    fanout,
    rateLimiter: new RateLimiter(config.rateLimit, systemClock),
    guesses: new GuessBudget({ ...DEFAULT_GUESS_POLICY, budget: config.authFailureLimit }, systemClock),
    trustProxy: config.trustProxy,
    bodyTimeoutMs: config.bodyTimeoutMs,
    publishSecret,
    logger,
    counters,
    startedAt: Date.now(),
    serverId: config.serverId,
    link,
    apiKey: config.apiSecretKey,
    metricsToken: config.metricsToken,
    checks: [{ name: 'api', kind: 'http', check: async () => void (await api().stages()) }],
  })
  app.listen(listenOptions(config.port))
  const server = app.server!
  control = new ControlPlane({ ...config, port: server.port! }, logger, { backoff: controlBackoff })

  const timers: Timer[] = []
  let stopped = false
  const sync = async () => {
    try {
      await fanout.syncStages(await api().stages())
    } catch (error) {
      logger.warn('stage sync failed', { error: describeError(error) })
    }
  }
  const beat = async () => {
    if (!link.registered || stopped) return
    try {
      await api().heartbeat({ publisherActive: fanout.publisherActive, connectedStages: fanout.liveStages() })
    } catch (error) {
      if (error instanceof ControlPlaneError && error.status === 404 && !stopped) {
        // The API server restarted or timed this relay out: register again (and heartbeat then).
        link.markUnregistered(`the API server no longer knows this relay (${describeError(error)}); registering again`)
        logger.warn('the API server no longer knows this relay; registering again', { serverId: config.serverId })
        ensureRegistered()
      } else logger.warn('heartbeat failed', { error: describeError(error) })
    }
  }
  // Register until the API server answers; then the event socket and timers keep us in step.
  let registering = false
  let registerTimer: Timer | null = null
  const register = async (attempt: number): Promise<void> => {
    registerTimer = null
    if (stopped) return
    registering = true
    let arns: string[]
    try {
      arns = await api().register()
    } catch (error) {
      if (stopped) return
      const delay = backoffDelay(attempt, controlBackoff)
      link.markUnregistered(describeError(error))
      logger.warn('registration failed', { error: describeError(error), retryInMs: delay })
      registerTimer = setTimeout(() => void register(attempt + 1), delay)
      return
    }
    registering = false
    link.markRegistered()
    logger.info('registered with the API server', { serverId: config.serverId, api: config.apiServerUrl })
    void beat()
    await fanout.syncStages(arns)
  }
  const ensureRegistered = () => {
    if (!registering) void register(0)
  }
  await register(0)
  const events = api().follow({
    onOpen: () => {
      link.markFollowing(true)
      void sync()
      // Also finds out at once whether the API server still knows us (it may have restarted).
      void beat()
    },
    onClose: () => link.markFollowing(false),
    onEvent: (type, data) => {
      const arn = typeof data.stageArn === 'string' ? data.stageArn : null
      if (type === 'stage_created' && arn) fanout.addStage(arn)
      if (type === 'stage_deleted' && arn) void fanout.removeStage(arn)
    },
  })
  timers.push(setInterval(() => void beat(), config.heartbeatIntervalMs))
  if (config.enableAutoSync) timers.push(setInterval(() => void sync(), config.stageSyncIntervalMs))
  logger.info('relay serving', { port: server.port, serverId: config.serverId, host: hostname() })

  let stopping: Promise<void> | null = null
  return {
    app,
    port: server.port!,
    url: `http://127.0.0.1:${server.port}`,
    publishSecret,
    fanout,
    link,
    stop({ drainMs = 0, graceMs = DEFAULT_STOP_GRACE_MS } = {}) {
      stopping ??= (async () => {
        if (drainMs > 0) logger.info('draining', { drainMs })
        await drainFor(app.store.drain, drainMs)
        stopped = true
        for (const timer of timers) clearTimeout(timer)
        if (registerTimer) clearTimeout(registerTimer)
        events.close()
        // WHIP DELETE on every stage session, then the publisher.
        await fanout.stop()
        await api()
          .heartbeat({ publisherActive: false, connectedStages: [] })
          .catch(() => {})
        await stopServer(server, graceMs)
        logger.info('relay stopped')
      })()
      return stopping
    },
  }
}
