import { Elysia } from 'elysia'
import type { Clock } from './clock'
import type { ServeConfig } from './config'
import type { FleetService } from './fleet/service'
import type { SocketHub } from './fleet/socket-hub'
import { socketRoutes } from './http/ws'
import type { Logger } from './log'
import type { Counters } from './metrics/counters'
import type { Authenticator } from './http/auth'
import { jsonBodies } from './http/body-limit'
import { docs } from './http/docs'
import { DASHBOARD_PAGE } from './http/dashboard-page'
import { envelope } from './http/envelope'
import { healthRoutes, type HealthCheck } from './http/health'
import { mediaRoutes } from './http/media'
import { rateLimit } from './http/rate-limit'
import type { RateLimiter } from './http/rate-limiter'
import { stageRoutes } from './http/stages'
import { statsRoutes } from './http/stats'
import { tokenRoutes } from './http/tokens'
import { viewerRoutes } from './http/viewers'
import { VERSION } from './version'
import type { FleetStats } from './fleet/stats'
import { counterFamilies, metricsRoute } from './http/metrics'
import { Histogram, type MetricFamily } from './metrics/prometheus'

export interface AppDeps {
  config: ServeConfig
  fleet: FleetService
  auth: Authenticator
  rateLimiter: RateLimiter
  healthChecks: HealthCheck[]
  hub: SocketHub
  isLeader(): boolean
  logger: Logger
  counters: Counters
  clock: Clock
  startedAt: number
}

function serveFamilies(stats: FleetStats, leader: boolean): MetricFamily[] {
  return [
    { name: 'ivs_fanout_viewers', help: 'present viewers in the fleet', type: 'gauge', samples: [{ value: stats.totalViewers }] },
    {
      name: 'ivs_fanout_stages',
      help: 'stages by status',
      type: 'gauge',
      samples: [
        { labels: { status: 'active' }, value: stats.activeStages },
        { labels: { status: 'draining' }, value: stats.drainingStages },
      ],
    },
    { name: 'ivs_fanout_stage_viewers', help: 'present viewers per stage', type: 'gauge', samples: stats.stages.map((s) => ({ labels: { stage: s.stageArn, status: s.status }, value: s.viewers })) },
    { name: 'ivs_fanout_publisher_active', help: '1 while the relay reports a live publisher', type: 'gauge', samples: [{ value: stats.publisherActive ? 1 : 0 }] },
    { name: 'ivs_fanout_leader', help: '1 on the instance holding the leader lease', type: 'gauge', samples: [{ value: leader ? 1 : 0 }] },
  ]
}

/** Serve mode's HTTP app. Tests build it with their own deps and listen on port 0. */
export function buildApp(deps: AppDeps) {
  const routeDeps = { fleet: deps.fleet, auth: deps.auth, config: deps.config }
  const started = new WeakMap<Request, number>()
  const durations = new Histogram('ivs_fanout_http_request_duration_seconds', 'HTTP request latency by route')
  return new Elysia({ name: 'ivs-fanout', normalize: false, serve: { reusePort: false, maxRequestBodySize: 1024 * 1024 } })
    .use(envelope(deps.logger, deps.counters))
    .onRequest(({ request }) => {
      started.set(request, performance.now())
    })
    .onAfterResponse({ as: 'global' }, ({ request, set, route }) => {
      const begun = started.get(request)
      if (begun !== undefined) {
        durations.observe({ method: request.method, route: route || 'unmatched', status: String(set.status ?? 200) }, (performance.now() - begun) / 1000)
      }
      deps.logger.debug('request', {
        method: request.method,
        path: new URL(request.url).pathname,
        status: set.status,
        ms: begun === undefined ? undefined : Math.round((performance.now() - begun) * 100) / 100,
        requestId: set.headers['x-request-id'],
      })
    })
    .use(jsonBodies())
    .use(rateLimit(deps.rateLimiter, { trustProxy: deps.config.trustProxy, sessionOf: (token) => deps.auth.sessionKey(token) }))
    .use(docs(VERSION))
    .get('/', () => new Response(DASHBOARD_PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } }), {
      detail: {
        summary: 'Live dashboard',
        description: 'HTML page: stages, viewers, publisher and relays, updated over /ws?type=dashboard. The API key is typed in or given in the URL fragment (#key=…).',
        tags: ['health'],
        responses: { 200: { description: 'the dashboard page', content: { 'text/html': { schema: { type: 'string', example: '<!doctype html>…' } } } } },
      },
    })
    .use(healthRoutes({ version: VERSION, mode: 'serve', startedAt: deps.startedAt, clock: deps.clock, checks: deps.healthChecks }))
    .use(tokenRoutes(routeDeps))
    .use(viewerRoutes(routeDeps))
    .use(stageRoutes(routeDeps))
    .use(statsRoutes(routeDeps))
    .use(mediaRoutes(routeDeps))
    .use(
      metricsRoute({
        isApiKey: (key) => deps.auth.isApiKey(key),
        metricsToken: deps.config.metricsToken,
        histograms: [durations],
        families: async () => [...serveFamilies(await deps.fleet.stats(), deps.isLeader()), ...counterFamilies(deps.counters.snapshot())],
      }),
    )
    .use(socketRoutes({ hub: deps.hub, auth: deps.auth, currentStats: () => deps.fleet.stats() }))
}

export type App = ReturnType<typeof buildApp>
