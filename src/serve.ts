import { buildApp, type App } from './app'
import { systemClock, type Clock } from './clock'
import type { ServeConfig } from './config'
import { storeEventPublisher } from './fleet/events'
import { EventFeed } from './fleet/event-feed'
import { HeartbeatBatcher } from './fleet/heartbeats'
import { LeaderLease } from './fleet/leader'
import { FleetLoop } from './fleet/loop'
import { FleetService, MasterStageMissing } from './fleet/service'
import { SocketHub } from './fleet/socket-hub'
import { ViewerSessions } from './fleet/viewer-session'
import { Authenticator } from './http/auth'
import { RateLimiter } from './http/rate-limiter'
import { randomAlphanumeric, randomSecret } from './ids'
import { ApiTokenIssuer } from './ivs/api-tokens'
import { AwsStageProvider } from './ivs/aws'
import { IvsRealTimeApi, createIvsRealTimeClient } from './ivs/aws-api'
import { LOCAL_ACCOUNT_ID, LocalStageProvider } from './ivs/local'
import { SelfSignedTokenIssuer, generateKeyPair, importPrivateKey } from './ivs/signer'
import type { StageProvider, TokenIssuer } from './ivs/types'
import type { Logger } from './log'
import { createMetricsPublisher } from './metrics/cloudwatch'
import { Counters } from './metrics/counters'
import { MemoryStore } from './store/memory'
import type { Store } from './store/types'
import { systemTicker, type Ticker } from './ticker'
import { hostname } from 'node:os'
import { UpstashStore } from './store/upstash'

export interface ServeHandle {
  app: App
  port: number
  url: string
  apiKey: string
  store: Store
  provider: StageProvider
  fleet: FleetService
  counters: Counters
  hub: SocketHub
  loop: FleetLoop
  feed: EventFeed
  lease: LeaderLease
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes the rest. */
  stop(graceMs?: number): Promise<void>
}

export interface ServeOptions {
  config: ServeConfig
  logger: Logger
  clock?: Clock
  /** Where the generated API key is printed (once, in local mode). */
  announce?: (line: string) => void
  /** Replaces the store the config would select (tests inject faults through it). */
  store?: Store
  /** Drives the fleet loop, event feed and stats; tests pass a ManualTicker. */
  ticker?: Ticker
}

const HEARTBEAT_WINDOW_MS = 200
const EVENT_POLL_MS = 200
const STATS_INTERVAL_MS = 1_000

export class StartupError extends Error {}

/** Composition root of serve mode: builds the object graph once and hands it down. */
export async function startServe(options: ServeOptions): Promise<ServeHandle> {
  const { config, logger } = options
  const clock = options.clock ?? systemClock
  const startedAt = clock.now()

  const store: Store = options.store ?? (await openStore(config, logger))
  const { provider, tokens } = await stageBackend(config, logger, clock)

  let apiKey = config.apiSecretKey
  if (apiKey === null) {
    apiKey = randomSecret(24)
    options.announce?.(`No API_SECRET_KEY set: this run's API key is ${apiKey}`)
  }
  const sessions = new ViewerSessions(apiKey)
  const counters = new Counters()
  const ticker = options.ticker ?? systemTicker
  const instanceId = `${hostname()}-${process.pid}-${randomAlphanumeric(6)}`
  // A remote store gets heartbeats in one pipeline per window; the memory store takes them directly.
  const heartbeats = new HeartbeatBatcher({ store, clock }, { windowMs: store.kind === 'memory' ? 0 : HEARTBEAT_WINDOW_MS, maxBatch: 5_000 })
  const fleet = new FleetService({
    heartbeats,
    store,
    provider,
    tokens,
    sessions,
    events: storeEventPublisher(store),
    counters,
    clock,
    logger,
    settings: {
      instanceId,
      stageCreateSpacingMs: provider.kind === 'aws' ? 250 : 0,
      fleetId: config.redisKeyPrefix.replace(/[^A-Za-z0-9-]/g, '') || 'ivsf',
      stageCapacity: config.stageCapacity,
      maxStages: config.maxStages,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      publisherTokenTtlMin: config.publisherTokenTtlMin,
      viewerTokenTtlMin: config.viewerTokenTtlMin,
      masterStageArn: config.masterStageArn,
    },
  })
  const master = await fleet.start().catch((error: unknown) => {
    throw error instanceof MasterStageMissing ? new StartupError(error.message) : error
  })

  const lease = new LeaderLease({ store, clock, logger }, instanceId, config.leaderLeaseMs)
  const loop = new FleetLoop(
    { fleet, lease, store, clock, logger, ticker },
    {
      tickMs: Math.min(1_000, Math.floor(config.leaderLeaseMs / 3)),
      heartbeatTimeoutMs: config.heartbeatTimeoutMs,
      policy: config,
    },
  )
  const hub = new SocketHub()
  const feed = new EventFeed({ store, logger, ticker }, { pollMs: EVENT_POLL_MS })
  feed.subscribe((event) => hub.deliver(event))
  await feed.start()

  const auth = new Authenticator({ apiKey, mediaSecret: config.mediaServerSecret, skipAuth: config.skipAuth }, sessions, clock)
  const rateLimiter = new RateLimiter({ windowMs: config.rateLimitWindowMs, max: config.rateLimitMaxRequests }, clock)
  const app = buildApp({
    config,
    counters,
    fleet,
    auth,
    rateLimiter,
    logger,
    clock,
    startedAt,
    hub,
    isLeader: () => lease.isLeader,
    healthChecks: [
      { name: 'store', kind: store.kind, check: () => store.ping() },
      { name: 'ivs', kind: provider.kind, check: () => provider.ping() },
    ],
  })
  const metrics = createMetricsPublisher(config, {
    counters,
    clock,
    logger: logger.child({ component: 'cloudwatch' }),
    // Fleet-wide gauges come from the leader only, so a Sum across instances is not N times too big;
    // counters are per instance and add up.
    gauges: { readGauges: async () => (lease.isLeader ? { stages: await store.listStages() } : null) },
  })
  app.listen({ port: config.port, hostname: '0.0.0.0' })
  metrics.start()
  loop.start()
  const stopStats = ticker.every(STATS_INTERVAL_MS, async () => {
    if (!hub.hasStatsAudience()) return
    const stats = await fleet.stats().catch(() => null)
    if (stats) hub.publishStats(stats)
  })
  const server = app.server!
  logger.info('serving', { port: server.port, store: store.kind, provider: provider.kind, tokens: tokens.strategy, masterStageArn: master.arn })

  let stopping: Promise<void> | null = null
  return {
    app,
    port: server.port!,
    url: `http://127.0.0.1:${server.port}`,
    apiKey,
    store,
    provider,
    fleet,
    counters,
    hub,
    loop,
    feed,
    lease,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        stopStats()
        await loop.stop()
        // Open sockets would hold server.stop(false) forever: close them first (1001 going away).
        hub.closeAll(1001, 'server stopping')
        let timer: Timer | undefined
        const grace = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs)
        })
        await Promise.race([server.stop(false), grace])
        clearTimeout(timer)
        await server.stop(true)
        await heartbeats.flush()
        await feed.stop()
        await metrics.stop()
        logger.info('stopped')
      })()
      return stopping
    },
  }
}

async function openStore(config: ServeConfig, logger: Logger): Promise<Store> {
  if (!config.upstash) return new MemoryStore(config.watchHistoryTtlMs)
  const store = new UpstashStore({ ...config.upstash, prefix: config.redisKeyPrefix, logger, historyRetentionMs: config.watchHistoryTtlMs })
  // Not fatal: a store that is down at start makes /health/ready say so, and scripts load on first use.
  await store.loadScripts().catch(() => logger.warn('store not reachable at start', { url: config.upstash!.url }))
  return store
}

/**
 * Local mode: in-process stages and self-signed tokens (generated key unless one is given).
 * AWS mode: IVS stages; self-signed tokens when a key is configured, else CreateParticipantToken,
 * both sharing one paced IVS client.
 */
async function stageBackend(config: ServeConfig, logger: Logger, clock: Clock): Promise<{ provider: StageProvider; tokens: TokenIssuer }> {
  if (config.provider === 'local') {
    const provider = new LocalStageProvider({ region: config.awsRegion, whipUrl: config.localWhipUrl })
    const keyId = config.ivsPublicKeyArn ?? `arn:aws:ivs:${config.awsRegion}:${LOCAL_ACCOUNT_ID}:public-key/${randomAlphanumeric(12)}`
    return { provider, tokens: await selfSignedIssuer(config.ivsPrivateKeyPem ?? (await generateKeyPair()).privateKeyPem, keyId, clock) }
  }
  const api = new IvsRealTimeApi({
    client: createIvsRealTimeClient({ region: config.awsRegion, endpoint: config.ivsEndpoint }),
    logger: logger.child({ component: 'ivs' }),
  })
  const provider = new AwsStageProvider(api)
  const tokens =
    config.ivsPublicKeyArn && config.ivsPrivateKeyPem
      ? await selfSignedIssuer(config.ivsPrivateKeyPem, config.ivsPublicKeyArn, clock)
      : new ApiTokenIssuer(api)
  return { provider, tokens }
}

async function selfSignedIssuer(pem: string, keyId: string, clock: Clock): Promise<TokenIssuer> {
  try {
    return new SelfSignedTokenIssuer((await importPrivateKey(pem)).key, keyId, clock)
  } catch (error) {
    throw new StartupError(`IVS_PRIVATE_KEY cannot be used: ${error instanceof Error ? error.message : String(error)}`)
  }
}
