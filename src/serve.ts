import { hostname } from 'node:os'
import { openStore, StartupError, stageBackend } from './backends'
import { type Clock, realSleep, type Sleep, systemClock } from './clock'
import type { ServeConfig } from './config/serve'
import { fleetSettings } from './config/settings'
import { CreateLock } from './fleet/create-lock'
import { EventFeed } from './fleet/event-feed'
import { storeEventPublisher } from './fleet/events'
import { HeartbeatBatcher } from './fleet/heartbeats'
import { LeaderLease } from './fleet/leader'
import { FleetLoop } from './fleet/loop'
import { RelayService } from './fleet/relays'
import { ReplicationService } from './fleet/replication'
import { SessionKeyKeeper } from './fleet/session-key'
import { MasterStageMissing, StageService } from './fleet/stages'
import { FleetStartup } from './fleet/startup'
import { StatsReader } from './fleet/stats'
import { StatsBroadcast } from './fleet/stats-broadcast'
import { FANOUT_LOCK, StoreLock } from './fleet/store-lock'
import { TokenService } from './fleet/tokens'
import { ViewerSessions } from './fleet/viewer-session'
import { ViewerService } from './fleet/viewers'
import { type App, buildApp } from './http/app'
import { Authenticator } from './http/auth'
import { FleetRateLimiter } from './http/fleet-rate-limiter'
import { REJOIN_LIMIT } from './http/rate-limit'
import { SocketHub } from './http/ws/hub'
import { randomAlphanumeric, randomSecret } from './ids'
import type { StageProvider } from './ivs/types'
import type { Logger } from './log'
import { createMetricsPublisher } from './metrics/cloudwatch'
import { Counters } from './metrics/counters'
import { Histogram } from './metrics/prometheus'
import type { Store } from './store/types'
import { systemTicker, type Ticker } from './ticker'
import { PreviousKeyWatch } from './web/api-keys'
import { DEFAULT_STOP_GRACE_MS, drainFor, type StopOptions, stopServer } from './web/drain'
import { DEFAULT_GUESS_POLICY, GuessBudget } from './web/guess-budget'
import { Listener } from './web/listener'
import { RateLimiter } from './web/rate-limiter'

export interface ServeHandle {
  app: App
  port: number
  /** http(s)://127.0.0.1:<port> */
  url: string
  /** SIGHUP: serve new connections with the certificate files as they are now (false: no TLS, or a bad pair kept the old one). */
  reloadTls(): Promise<boolean>
  apiKey: string
  store: Store
  provider: StageProvider
  stages: StageService
  viewers: ViewerService
  relays: RelayService
  /** FANOUT_MODE: the participant replications, and where the relay publishes (relayStages). */
  replication: ReplicationService
  tokens: TokenService
  stats: StatsReader
  counters: Counters
  hub: SocketHub
  loop: FleetLoop
  feed: EventFeed
  lease: LeaderLease
  /**
   * Drains for `drainMs` (readiness 503, every response `Connection: close`), stops accepting, lets
   * in-flight requests finish (up to `graceMs`), then closes the rest.
   */
  stop(options?: StopOptions): Promise<void>
}

export interface ServeOptions {
  config: ServeConfig
  logger: Logger
  clock?: Clock
  /** Real waiting (another instance's stage creation, create spacing); tests may shorten it. */
  sleep?: Sleep
  /** Where the generated API key is printed (once, in local mode). */
  announce?: (line: string) => void
  /** Replaces the store the config would select (tests inject faults through it). */
  store?: Store
  /** Drives the fleet loop, event feed and stats; tests pass a ManualTicker. */
  ticker?: Ticker
  /**
   * A configuration error found only after start (Redis refusing our credentials once it is
   * reachable, MASTER_STAGE_ARN missing once the store answers). The command line exits 2.
   */
  onFatal?(error: StartupError): void
}

export { StartupError }

/** Composition root of serve mode: builds the object graph once and hands it down. */
export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  const { config, logger } = options
  const clock = options.clock ?? systemClock
  const sleep = options.sleep ?? realSleep
  const ticker = options.ticker ?? systemTicker
  const startedAt = clock.now()

  const fatal = (error: Error) => {
    logger.error('configuration error', { error: error.message })
    options.onFatal?.(new StartupError(error.message))
  }
  const store: Store = options.store ?? (await openStore(config, logger, fatal))
  const counters = new Counters()
  const gateWaits = new Histogram('ivs_fanout_ivs_gate_wait_seconds', 'time IVS calls waited for a slot of the fleet-wide quota gate')
  const {
    provider,
    tokens: issuer,
    api,
  } = await stageBackend(config, {
    logger,
    clock,
    store,
    observer: {
      attempt: (operation, outcome) => counters.add('IvsCalls', 1, { operation, outcome }),
      waited: (operation, ms) => {
        gateWaits.observe({ operation }, ms / 1000)
        counters.add('IvsGateWaitMs', ms, { operation })
      },
    },
  })
  const settings = fleetSettings(config, {
    instanceId: `${hostname()}-${process.pid}-${randomAlphanumeric(6)}`,
    storeKind: store.kind,
    providerKind: provider.kind,
  })

  let apiKey = config.apiSecretKey
  if (apiKey === null) {
    apiKey = randomSecret(24)
    options.announce?.(`No API_SECRET_KEY set: this run's API key is ${apiKey}`)
  }
  // Signed with the fleet's own key (read from the store as the fleet starts); sessions signed before
  // it existed, with a key derived from the API key, still verify.
  const sessions = new ViewerSessions({ legacyApiKeys: [config.apiSecretKey, config.apiSecretKeyPrevious] })
  const sessionKey = new SessionKeyKeeper({ store, sessions, ticker, logger, randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)) })
  const events = storeEventPublisher(store)
  const lock = new CreateLock({ store, clock, sleep, ticker, logger }, settings.createLock)
  // Rounds and hooks of every instance change the fan-out's view holding one store lease.
  const fanoutLock = new StoreLock({ store, clock, sleep, ticker, logger }, settings.fanoutLock, FANOUT_LOCK)
  const replication = new ReplicationService({ store, provider, events, counters, clock, logger, lock: fanoutLock }, settings.replication)
  // Relay mode needs no fan-out hooks: every stage is the relay's.
  const fanout = replication.mode === 'relay' ? undefined : replication
  const stages = new StageService({ store, provider, lock, events, counters, clock, logger, fanout }, settings.stages)
  const heartbeats = new HeartbeatBatcher({ store, clock }, settings.heartbeats)
  const viewers = new ViewerService({ store, tokens: issuer, sessions, heartbeats, room: stages, counters, clock, logger }, settings.viewers)
  // With no relay online, the leader asks IVS who publishes into the master stage.
  const probe = async () => {
    const master = await stages.master().catch(() => null)
    const publishing = master ? await provider.publishingParticipants(master.arn) : null
    return publishing === null ? null : publishing > 0
  }
  const relays = new RelayService({ store, events, clock, logger, probe }, settings.relays)
  const tokens = new TokenService({ stages, issuer, counters, relayTargets: fanout }, settings.tokens)
  const ivs = { counters, provider: provider.kind, since: startedAt }
  const stats = new StatsReader({ store, clock, ticker, logger, ivs }, settings.admission, replication.mode, config.stageCapacity)

  if (config.maxStages * config.stageCapacity > config.ivsMaxSubscriptions) {
    logger.warn("MAX_STAGES × STAGE_CAPACITY exceeds the account's concurrent-subscription quota: new viewers are refused past IVS_MAX_SUBSCRIPTIONS", {
      seats: config.maxStages * config.stageCapacity,
      IVS_MAX_SUBSCRIPTIONS: config.ivsMaxSubscriptions,
    })
  }
  // The fleet's viewer-session key first: until the store gives it, no session can be signed.
  const start = () => sessionKey.load().then(() => stages.start())
  const startup = new FleetStartup({ start, logger, sleep, onFatal: fatal })
  const master = await startup.begin().catch((error: unknown) => {
    throw error instanceof MasterStageMissing ? new StartupError(error.message) : error
  })

  const lease = new LeaderLease({ store, clock, logger }, settings.createLock.instanceId, settings.leaderLeaseMs)
  const loop = new FleetLoop({ stages, viewers, relays, replication, lease, store, clock, logger, ticker }, settings.loop)
  const hub = new SocketHub()
  const feed = new EventFeed({ store, logger, ticker, sleep }, { pollMs: settings.eventPollMs, waitMs: settings.eventWaitMs })
  feed.subscribe((event) => hub.deliver(event))
  await feed.start()
  const broadcast = new StatsBroadcast({ read: () => stats.read(), audience: hub, ticker, logger }, settings.statsIntervalMs)

  const auth = new Authenticator(
    { apiKey, previousApiKey: config.apiSecretKeyPrevious, mediaSecret: config.mediaServerSecret, skipAuth: config.skipAuth },
    sessions,
    clock,
    config.apiSecretKeyPrevious === null ? null : new PreviousKeyWatch({ counters, logger, clock }),
  )
  const rateWindow = config.rateLimit
  const localLimiter = new RateLimiter(rateWindow, clock)
  // With a shared store the limit is one for the fleet; the memory store is this process anyway.
  const rateLimiter = store.kind === 'memory' ? localLimiter : new FleetRateLimiter({ limits: store.limits, local: localLimiter, clock, logger }, rateWindow)
  const localRejoins = new RateLimiter(REJOIN_LIMIT, clock)
  const rejoinLimiter =
    store.kind === 'memory' ? localRejoins : new FleetRateLimiter({ limits: store.limits, local: localRejoins, clock, logger }, REJOIN_LIMIT)
  // Wrong secrets are counted per client address, fleet-wide when the store is shared.
  const guesses = new GuessBudget({ ...DEFAULT_GUESS_POLICY, budget: config.authFailureLimit }, clock, store.kind === 'memory' ? null : store.limits)
  for (const warning of config.warnings) logger.warn(warning)
  const app = buildApp({
    guesses,
    stages,
    viewers,
    relays,
    replication,
    tokens,
    stats,
    auth,
    rateLimiter,
    rejoinLimiter,
    logger,
    clock,
    startedAt,
    hub,
    counters,
    isLeader: () => lease.isLeader,
    healthChecks: [
      { name: 'store', kind: store.kind, check: () => store.ping() },
      { name: 'ivs', kind: provider.kind, check: () => provider.ping() },
      { name: 'fleet', kind: 'master stage', check: async () => void (startup.started ? await stages.master() : await startup.check()) },
    ],
    healthInfo: () => ({ store: store.describe() }),
    histograms: [gateWaits],
    quotaUsage: api ? () => api.quotaUsage() : undefined,
    settings: {
      trustProxy: config.trustProxy,
      bodyTimeoutMs: config.bodyTimeoutMs,
      metricsToken: config.metricsToken,
      corsOrigins: config.corsOrigins,
      apiAllowedCidrs: config.apiAllowedCidrs,
    },
  })
  const metrics = createMetricsPublisher(config, {
    counters,
    clock,
    logger: logger.child({ component: 'cloudwatch' }),
    // Fleet-wide gauges come from the leader only, so a Sum across instances is not N times too big;
    // counters are per instance and add up.
    gauges: {
      readGauges: async () => {
        if (!lease.isLeader) return null
        const [fleet, quota] = await Promise.all([stats.read(), api ? api.quotaUsage() : []])
        return { stages: await store.listStages(), capacityExhausted: fleet.capacityExhausted, quota, replications: fleet.activeReplications }
      },
    },
  })
  const listener = await Listener.start(app, { port: config.port, tls: config.tls, logger })
  metrics.start()
  loop.start()
  broadcast.start()
  stats.start()
  sessionKey.start()
  logger.info('serving', {
    port: listener.listeningPort,
    scheme: listener.scheme,
    store: store.describe(),
    provider: provider.kind,
    tokens: issuer.strategy,
    masterStageArn: master?.arn ?? null,
  })

  let stopping: Promise<void> | null = null
  return {
    app,
    port: listener.listeningPort,
    url: listener.url,
    reloadTls: () => listener.reloadTls(),
    apiKey,
    store,
    provider,
    stages,
    viewers,
    relays,
    replication,
    tokens,
    stats,
    counters,
    hub,
    loop,
    feed,
    lease,
    stop({ drainMs = 0, graceMs = DEFAULT_STOP_GRACE_MS } = {}) {
      stopping ??= (async () => {
        if (drainMs > 0) logger.info('draining', { drainMs })
        await drainFor(app.store.drain, drainMs)
        startup.stop()
        sessionKey.stop()
        await broadcast.stop()
        await stats.stop()
        await loop.stop()
        // Open sockets would hold server.stop(false) forever: close them first (1001 going away).
        hub.closeAll(1001, 'server stopping')
        await stopServer(listener.server, graceMs)
        await heartbeats.flush()
        await feed.stop()
        await metrics.stop()
        await store.close()
        logger.info('stopped')
      })()
      return stopping
    },
  }
}
