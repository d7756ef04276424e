import { Elysia } from 'elysia'
import type { Clock } from '../clock'
import { AppError, type ErrorAction } from '../errors'
import type { RelayService } from '../fleet/relays'
import type { ReplicationService } from '../fleet/replication'
import type { StageService } from '../fleet/stages'
import type { StatsReader } from '../fleet/stats'
import type { TokenService } from '../fleet/tokens'
import type { ViewerService } from '../fleet/viewers'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import { Histogram } from '../metrics/prometheus'
import { VERSION } from '../version'
import { type AddressList, clientAddressOf, clientOfRequest, listed, type Peer, type ProxyTrust } from '../web/client-address'
import type { GuessBudget } from '../web/guess-budget'
import { type HealthCheck, healthRoutes } from '../web/health'
import { cachedChecks } from '../web/health-checks'
import { metricsAccess, metricsRoute } from '../web/metrics'
import { httpPipeline } from '../web/pipeline'
import type { RateCounter } from '../web/rate-limiter'
import { pathOf } from '../web/request-path'
import { pageCsp } from '../web/security-headers'
import type { Authenticator } from './auth'
import { serveCorsPolicy, VIEWER_SESSION_ROUTES } from './cors-policy'
import { dashboardRoutes } from './dashboard'
import { docs } from './docs'
import { serveFamilies } from './fleet-metrics'
import { mediaRoutes } from './media'
import { serveRateKey } from './rate-limit'
import { TOKEN_ROUTES } from './security'
import { stageRoutes } from './stages'
import { statsRoutes } from './stats'
import { tokenRoutes } from './tokens'
import { viewerClientRoutes } from './viewer-client'
import { viewerRoutes } from './viewers'
import { WATCH_CSP, watchRoutes } from './watch'
import { requireSocketCredential, socketRoutes } from './ws'
import type { SocketHub } from './ws/hub'

export interface AppDeps {
  stages: StageService
  viewers: ViewerService
  relays: RelayService
  /** Where the relay publishes (FANOUT_MODE): GET /api/media/stages and the registration's list. */
  replication?: Pick<ReplicationService, 'relayStages'>
  tokens: TokenService
  stats: StatsReader
  auth: Authenticator
  rateLimiter: RateCounter
  /** Rejoins per userId (REJOIN_LIMIT), counted apart from the request rate. */
  rejoinLimiter: RateCounter
  healthChecks: HealthCheck[]
  /** Extra fields for /health (which store is in use). */
  healthInfo?(): Record<string, unknown>
  hub: SocketHub
  isLeader(): boolean
  logger: Logger
  counters: Counters
  clock: Clock
  startedAt: number
  settings: {
    trustProxy: ProxyTrust
    metricsToken: string | null
    corsOrigins: readonly string[]
    bodyTimeoutMs?: number
    /** API_ALLOWED_CIDRS: only these client addresses may call the API-key routes (null: any). */
    apiAllowedCidrs?: AddressList | null
  }
  /** Failed authentications per client address (the guess budget). */
  guesses: GuessBudget
  /** More latency histograms for /metrics (the IVS quota gate's waits). */
  histograms?: Histogram[]
  /** The IVS rate quotas' use now (AWS mode). */
  quotaUsage?(): Promise<{ operation: string; used: number; limit: number }[]>
}

/** The route a domain error's next step points to, for this API's callers. */
const ACTION_HINTS: Record<ErrorAction, string> = {
  rejoin: 'call POST /api/viewer/rejoin',
  register: 'call POST /api/media/register first',
}

/** The only headers requireViewerCredential reads, without copying every header of the request. */
const credentialHeaders = (headers: Headers) => ({
  'x-api-key': headers.get('x-api-key') ?? undefined,
  authorization: headers.get('authorization') ?? undefined,
})

/** The API key a request presents: x-api-key, or on /ws the `apiKey` query parameter browsers use. */
const apiKeyOf = (request: Request, path: string) =>
  request.headers.get('x-api-key') ?? (path === '/ws' ? new URL(request.url).searchParams.get('apiKey') : null)

/**
 * API_ALLOWED_CIDRS: a route under /api that takes the API key refuses (403) a client address outside
 * the list, before its credentials are looked at. Health, the dashboard's files and a viewer app's own
 * routes (`/api/viewer/heartbeat|leave|rejoin` with its viewer session, no API key) are not affected.
 */
function apiAllowList(allowed: AddressList | null, addressOf: ReturnType<typeof clientAddressOf>) {
  if (!allowed) return undefined
  return (request: Request, path: string, server: Peer | null) => {
    if (!path.startsWith('/api/')) return
    if (VIEWER_SESSION_ROUTES.has(path) && !request.headers.has('x-api-key')) return
    const address = addressOf(request, server)
    if (!listed(allowed.list, address)) {
      throw new AppError('FORBIDDEN', `${address} may not call the API: it is not in API_ALLOWED_CIDRS`, { reason: 'address-not-allowed' })
    }
  }
}

/** Serve mode's HTTP app. Tests build it with their own deps and listen on port 0. */
export function buildApp(deps: AppDeps) {
  const { stages, viewers, relays, tokens, auth, settings } = deps
  const started = new WeakMap<Request, number>()
  // The API key of each request whose credentials passed, noted once its route is known (below).
  const passedKeys = new WeakMap<Request, string>()
  const durations = new Histogram('ivs_fanout_http_request_duration_seconds', 'HTTP request latency by route')
  const requireMetricsAccess = metricsAccess({ isApiKey: (key) => auth.isApiKey(key), metricsToken: settings.metricsToken })
  // /metrics' ivs_fanout_store_up: the readiness check's store check (bounded and reused the same way), not IVS's or the fleet's.
  const storeChecks = deps.healthChecks.filter((c) => c.name === 'store')
  const checkStore = cachedChecks(storeChecks)
  const storeCheck = storeChecks.length ? async () => (await checkStore()).store!.ok : null
  return new Elysia({ name: 'ivs-fanout', normalize: false, serve: { reusePort: false } })
    .onRequest(({ request }) => {
      started.set(request, performance.now())
    })
    .onAfterResponse({ as: 'global' }, ({ request, set, route }) => {
      // A use of API_SECRET_KEY_PREVIOUS is counted and reported by route template (Elysia's matched
      // route, as the latency histogram labels it), so one route's many ARNs warn as one. Routing comes
      // after the pipeline's credential check (onRequest has no route yet): hence here, once a request.
      const key = passedKeys.get(request)
      if (key !== undefined) auth.noteApiKeyUse(key, `${request.method} ${route || 'unmatched'}`)
      const begun = started.get(request)
      if (begun !== undefined) {
        durations.observe({ method: request.method, route: route || 'unmatched', status: String(set.status ?? 200) }, (performance.now() - begun) / 1000)
      }
      deps.logger.debug('request', {
        method: request.method,
        path: pathOf(request.url),
        status: set.status,
        ms: begun === undefined ? undefined : Math.round((performance.now() - begun) * 100) / 100,
        requestId: set.headers['x-request-id'],
      })
    })
    .use(
      httpPipeline({
        logger: deps.logger,
        counters: deps.counters,
        actionHint: (action) => ACTION_HINTS[action],
        pages: { '/': pageCsp({ styleAttributes: true }), '/watch': WATCH_CSP },
        noStore: TOKEN_ROUTES,
        cors: {
          policy: serveCorsPolicy(settings.corsOrigins),
          exposeHeaders: ['x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'],
        },
        clientOf: clientOfRequest(settings.trustProxy),
        // Canonical paths: `/api/` is `/api`, `/metrics/.` is `/metrics`.
        credentialed: (path) => path.startsWith('/api') || path.startsWith('/ws') || path.startsWith('/metrics'),
        // Everything under /api takes the API key or a viewer session (routes check which one they
        // need); /ws the API key or, for viewers, a session, from its headers or query.
        checkCredentials: (request, path) => {
          if (path.startsWith('/api')) auth.requireViewerCredential(credentialHeaders(request.headers))
          else if (path === '/metrics') requireMetricsAccess(request.headers.toJSON())
          else if (path === '/ws') requireSocketCredential(auth, request)
          // Passed: its key is noted once the route is known (onAfterResponse above).
          const key = apiKeyOf(request, path)
          if (key !== null) passedKeys.set(request, key)
        },
        guesses: deps.guesses,
        rateLimit: { counter: deps.rateLimiter, keyOf: serveRateKey((token) => auth.sessionKey(token)) },
        body: { timeoutMs: settings.bodyTimeoutMs },
        admitClient: apiAllowList(settings.apiAllowedCidrs ?? null, clientAddressOf(settings.trustProxy)),
      }),
    )
    .use(docs(VERSION))
    .use(dashboardRoutes())
    .use(viewerClientRoutes())
    .use(watchRoutes())
    .use(healthRoutes({ version: VERSION, mode: 'serve', startedAt: deps.startedAt, clock: deps.clock, checks: deps.healthChecks, extra: deps.healthInfo }))
    .use(tokenRoutes({ tokens, viewers, auth }))
    .use(viewerRoutes({ viewers, auth, rejoins: deps.rejoinLimiter }))
    .use(stageRoutes({ stages, relays, auth }))
    .use(statsRoutes({ reader: deps.stats, relays, auth }))
    .use(mediaRoutes({ relays, stages, tokens, auth, fanout: deps.replication }))
    .use(
      metricsRoute({
        isApiKey: (key) => auth.isApiKey(key),
        metricsToken: settings.metricsToken,
        histograms: [durations, ...(deps.histograms ?? [])],
        families: () =>
          serveFamilies({
            storeCheck,
            stats: () => deps.stats.read(),
            leader: deps.isLeader(),
            quotaUsage: deps.quotaUsage,
            counters: deps.counters.snapshot(),
          }),
      }),
    )
    .use(socketRoutes({ hub: deps.hub, auth, clock: deps.clock, currentStats: () => deps.stats.read() }))
}

export type App = ReturnType<typeof buildApp>
