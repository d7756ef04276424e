import { Elysia, t } from 'elysia'
import type { Clock } from '../../src/clock'
import { AppError } from '../../src/errors'
import type { Logger } from '../../src/log'
import type { Counters } from '../../src/metrics/counters'
import { VERSION } from '../../src/version'
import { ApiKeys, PreviousKeyWatch } from '../../src/web/api-keys'
import { clientOfRequest, type ProxyTrust } from '../../src/web/client-address'
import type { CorsPolicy } from '../../src/web/cors'
import { bearerOf, SecretCheck } from '../../src/web/credentials'
import { ok } from '../../src/web/envelope'
import type { GuessBudget } from '../../src/web/guess-budget'
import type { HealthCheck } from '../../src/web/health'
import { counterFamilies, ERROR_COUNTERS, metricsAccess, metricsRoute } from '../../src/web/metrics'
import { httpPipeline } from '../../src/web/pipeline'
import type { RateCounter } from '../../src/web/rate-limiter'
import { canonicalPath } from '../../src/web/request-path'
import { pageCsp } from '../../src/web/security-headers'
import type { FeedingView } from '../control/feeding'
import type { LinkState } from '../control/link'
import { type Fanout, PublisherConflict } from '../fanout'
import { SdpError } from '../rtp/sdp'
import { detailsGate, relayHealthRoutes } from './health'
import { relayFamilies } from './metrics'
import { publishPage } from './publish'

export interface RelayAppDeps {
  fanout: Fanout
  publishSecret: string
  logger: Logger
  counters: Counters
  startedAt: number
  clock: Clock
  serverId: string
  /** Registration and event-socket state, kept by relay/main.ts (drives /health and /health/ready). */
  link: LinkState
  /** Whether this relay feeds the stages (one feeding relay), for /health. */
  feeding: FeedingView
  checks: HealthCheck[]
  /** /metrics accepts the API key (x-api-key) or METRICS_TOKEN. */
  apiKey: string
  /** API_SECRET_KEY_PREVIOUS: accepted as well while a rotation rolls out (each use counted and reported). */
  previousApiKey?: string | null
  metricsToken: string | null
  /** Requests per client address on the routes that take a secret (/whip, /metrics), and the guess budget on those secrets. */
  rateLimiter: RateCounter
  guesses: GuessBudget
  trustProxy: ProxyTrust
  /** How long a WHIP offer may take to arrive. */
  bodyTimeoutMs?: number
}

/** The relay's routes that take a secret: WHIP (the publish secret) and /metrics (the API key or METRICS_TOKEN). */
const credentialed = (path: string) => path.startsWith('/whip') || path.startsWith('/metrics')

/** Browsers publishing from another origin (the WHIP routes take a bearer, never cookies). */
const relayCorsPolicy: CorsPolicy = (_origin, path) => {
  const allowHeaders = ['Authorization', 'Content-Type', 'If-Match']
  if (path === '/whip') return { allowOrigin: '*', allowHeaders, allowMethods: ['POST'] }
  if (path.startsWith('/whip/')) return { allowOrigin: '*', allowHeaders, allowMethods: ['GET', 'DELETE'] }
  return null
}

/** OPTIONS without a CORS preflight's headers (a WHIP client asking what it may do). */
function allowed(set: { status?: unknown; headers: Record<string, unknown> }, methods: string) {
  set.status = 204
  set.headers.allow = methods
  return ''
}

/** The relay's HTTP side: WHIP ingest for the broadcaster, health, and the browser publisher page. */
export function buildRelayApp(deps: RelayAppDeps) {
  const publishSecret = new SecretCheck(deps.publishSecret)
  const requirePublisher = (headers: Record<string, string | undefined>) => {
    const token = bearerOf(headers)
    if (!token) throw new AppError('UNAUTHORIZED', 'send Authorization: Bearer <PUBLISH_SECRET>')
    if (!publishSecret.matches(token)) throw new AppError('UNAUTHORIZED', 'the bearer token is not the publish secret')
  }
  const { fanout } = deps
  const previous = deps.previousApiKey ?? null
  const apiKey = new ApiKeys(deps.apiKey, previous, previous === null ? null : new PreviousKeyWatch(deps))
  const clientOf = clientOfRequest(deps.trustProxy)
  const requireMetricsAccess = metricsAccess({ isApiKey: (key) => apiKey.matches(key), metricsToken: deps.metricsToken })
  // /health's details gate checks the key once per request: that is where its use is noted.
  const isHealthKey = (key: string, request: Request) => {
    apiKey.noteUse(key, `${request.method} ${canonicalPath(request.url)}`)
    return apiKey.matches(key)
  }
  return new Elysia({ name: 'ivs-fanout-relay', normalize: false, serve: { reusePort: false } })
    .use(
      httpPipeline({
        logger: deps.logger,
        counters: deps.counters,
        pages: { '/publish': pageCsp() },
        cors: {
          policy: relayCorsPolicy,
          exposeHeaders: ['Location', 'ETag', 'Link', 'x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'],
        },
        clientOf,
        credentialed,
        // From the headers, before any body (the offer) is read.
        checkCredentials: (request, path) => {
          if (path === '/metrics') {
            requireMetricsAccess(request.headers.toJSON())
            apiKey.noteUse(request.headers.get('x-api-key'), `${request.method} ${path}`)
          } else if (request.method !== 'PATCH') requirePublisher(request.headers.toJSON())
        },
        guesses: deps.guesses,
        rateLimit: { counter: deps.rateLimiter },
        body: { textTypes: ['application/sdp', 'application/trickle-ice-sdpfrag'], timeoutMs: deps.bodyTimeoutMs },
      }),
    )
    .get('/', ({ redirect }) => redirect('/publish'))
    .use(publishPage())
    .use(
      relayHealthRoutes({
        version: VERSION,
        serverId: deps.serverId,
        startedAt: deps.startedAt,
        clock: deps.clock,
        link: deps.link,
        feeding: deps.feeding,
        checks: deps.checks,
        fanout,
        // Details for the API key or METRICS_TOKEN (as /metrics); a wrong one is charged to the guess budget.
        details: detailsGate({ isApiKey: isHealthKey, metricsToken: deps.metricsToken, guesses: deps.guesses, clientOf }),
      }),
    )
    .use(
      metricsRoute({
        isApiKey: (key) => apiKey.matches(key),
        metricsToken: deps.metricsToken,
        families: async () => [...relayFamilies(fanout), ...counterFamilies(deps.counters.snapshot(), ERROR_COUNTERS)],
      }),
    )
    .options('/whip', ({ set }) => allowed(set, 'POST, OPTIONS'))
    .post(
      '/whip',
      async ({ body, headers, set, request }) => {
        requirePublisher(headers)
        if (!(request.headers.get('content-type') ?? '').toLowerCase().startsWith('application/sdp') || typeof body !== 'string') {
          throw new AppError('VALIDATION_ERROR', 'send the SDP offer with Content-Type: application/sdp', { field: 'content-type' })
        }
        try {
          const { session, answer } = await fanout.acceptPublisher(body)
          deps.logger.info('publisher connected', {
            session: session.id,
            videoPayloadType: session.codecs.video.payloadType,
            audio: session.codecs.audio !== null,
          })
          set.status = 201
          set.headers['content-type'] = 'application/sdp'
          set.headers.location = `/whip/${session.id}`
          set.headers.etag = session.etag
          return answer
        } catch (error) {
          if (error instanceof PublisherConflict) throw new AppError('CONFLICT', error.message)
          if (error instanceof SdpError) {
            // The publisher's mistake, not ours: a warning without a stack, and the 400 says what to fix.
            deps.logger.warn('WHIP offer refused', { reason: error.message })
            throw new AppError('VALIDATION_ERROR', error.message, { field: 'sdp' })
          }
          throw error
        }
      },
      { detail: { summary: 'WHIP ingest', description: 'POST an SDP offer (H.264 baseline + Opus) with Authorization: Bearer <PUBLISH_SECRET>.' } },
    )
    .options('/whip/:id', ({ set }) => allowed(set, 'GET, DELETE, OPTIONS'))
    .get(
      '/whip/:id',
      ({ params, headers }) => {
        requirePublisher(headers)
        const session = fanout.publisherSession
        if (!session || session.id !== params.id) throw new AppError('NOT_FOUND', `no WHIP session ${params.id}`)
        return ok(session.stats())
      },
      {
        params: t.Object({ id: t.String({ maxLength: 64 }) }),
        detail: {
          summary: 'WHIP session statistics',
          description: "The session's ingest figures (loss, NACKs, repairs, RTX) and the publisher's measured keyframe interval, for the publish page.",
        },
      },
    )
    .delete(
      '/whip/:id',
      ({ params, headers }) => {
        requirePublisher(headers)
        if (!fanout.endPublisher(params.id)) throw new AppError('NOT_FOUND', `no WHIP session ${params.id}`)
        return ok({ ended: params.id })
      },
      { params: t.Object({ id: t.String({ maxLength: 64 }) }) },
    )
    .patch('/whip/:id', ({ set }) => {
      set.headers.allow = 'GET, DELETE, OPTIONS'
      throw new AppError('METHOD_NOT_ALLOWED', 'trickle ICE and ICE restarts are not supported: send all candidates in the offer')
    })
}
