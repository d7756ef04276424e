import { Elysia, t } from 'elysia'
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
import { Envelope, envelope, ok } from './http/envelope'
import { healthRoutes, type HealthCheck } from './http/health'
import { mediaRoutes } from './http/media'
import { rateLimit } from './http/rate-limit'
import type { RateLimiter } from './http/rate-limiter'
import { stageRoutes } from './http/stages'
import { statsRoutes } from './http/stats'
import { tokenRoutes } from './http/tokens'
import { viewerRoutes } from './http/viewers'
import { VERSION } from './version'

export interface AppDeps {
  config: ServeConfig
  fleet: FleetService
  auth: Authenticator
  rateLimiter: RateLimiter
  healthChecks: HealthCheck[]
  hub: SocketHub
  logger: Logger
  counters: Counters
  clock: Clock
  startedAt: number
}

const About = t.Object(
  { name: t.String(), version: t.String(), docs: t.String(), health: t.String() },
  { description: 'what this server is', example: { name: 'ivs-fanout', version: '0.1.0', docs: '/swagger', health: '/health' } },
)

/** Serve mode's HTTP app. Tests build it with their own deps and listen on port 0. */
export function buildApp(deps: AppDeps) {
  const routeDeps = { fleet: deps.fleet, auth: deps.auth, config: deps.config }
  const started = new WeakMap<Request, number>()
  return new Elysia({ name: 'ivs-fanout', normalize: false, serve: { reusePort: false, maxRequestBodySize: 1024 * 1024 } })
    .use(envelope(deps.logger, deps.counters))
    .onRequest(({ request }) => {
      started.set(request, performance.now())
    })
    .onAfterResponse({ as: 'global' }, ({ request, set }) => {
      const begun = started.get(request)
      deps.logger.debug('request', {
        method: request.method,
        path: new URL(request.url).pathname,
        status: set.status,
        ms: begun === undefined ? undefined : Math.round((performance.now() - begun) * 100) / 100,
        requestId: set.headers['x-request-id'],
      })
    })
    .use(jsonBodies())
    .use(rateLimit(deps.rateLimiter, { trustProxy: deps.config.trustProxy }))
    .use(docs(VERSION))
    .get('/', () => ok({ name: 'ivs-fanout', version: VERSION, docs: '/swagger', health: '/health' }), {
      response: { 200: Envelope(About) },
      detail: { summary: 'About', description: 'Name, version and where to look next.', tags: ['health'] },
    })
    .use(healthRoutes({ version: VERSION, mode: 'serve', startedAt: deps.startedAt, clock: deps.clock, checks: deps.healthChecks }))
    .use(tokenRoutes(routeDeps))
    .use(viewerRoutes(routeDeps))
    .use(stageRoutes(routeDeps))
    .use(statsRoutes(routeDeps))
    .use(mediaRoutes(routeDeps))
    .use(socketRoutes({ hub: deps.hub, auth: deps.auth, currentStats: () => deps.fleet.stats() }))
}

export type App = ReturnType<typeof buildApp>
