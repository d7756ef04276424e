import { Elysia } from 'elysia'
import type { Clock } from '../../src/clock'
import { AppError } from '../../src/errors'
import { bearerOf, SecretCheck } from '../../src/web/credentials'
import { errorBody, ok } from '../../src/web/envelope'
import type { GuessBudget } from '../../src/web/guess-budget'
import { refuseIfLocked } from '../../src/web/guess-guard'
import { type CheckResult, cachedChecks, type HealthCheck, uptimeSeconds } from '../../src/web/health-checks'
import type { FeedingView } from '../control/feeding'
import type { LinkState } from '../control/link'
import type { StageSessionState } from '../egress/stage-session'
import type { Fanout } from '../fanout'

/** `service` in the original media server's /health body. */
export const SERVICE = 'ivs-fanout-relay'

export type RelayStatus = 'healthy' | 'degraded' | 'unhealthy'

export interface Assessment {
  status: RelayStatus
  /** Everything that keeps the status from `healthy`. */
  reasons: string[]
  /** The subset that makes /health/ready answer 503 (empty = ready). */
  notReady: string[]
  /** The same two without addresses or error texts: what a caller without a credential sees. */
  publicReasons: string[]
  publicNotReady: string[]
}

/** A reason in full (addresses, remote error texts) and as anyone may read it (the state alone). */
type Reason = [full: string, open: string]

/**
 * The relay's status, from its link to the API server, its checks and its stage sessions:
 * `unhealthy` while not registered or a check fails; `degraded` while registered but the event socket
 * is closed or a stage session is in `backoff` (or connecting again after a failure: a first
 * `connecting` is on its way and counts as fine); `healthy` otherwise. Ready = registered, following events, and every check passing.
 */
export function assess(
  link: LinkState,
  checks: Record<string, CheckResult>,
  stages: readonly { stageArn: string; state: StageSessionState; lastError?: string | null }[],
): Assessment {
  const notReady: Reason[] = []
  if (!link.registered)
    notReady.push([
      `not registered with the API server at ${link.apiServerUrl}: ${link.lastRegistrationError ?? 'the first registration has not completed yet'}`,
      'not registered with the API server',
    ])
  if (!link.following)
    notReady.push([
      `not following the API server's events (its /ws?type=media-server socket at ${link.apiServerUrl} is not open)`,
      "not following the API server's events",
    ])
  const failedChecks = Object.entries(checks).filter(([, r]) => !r.ok)
  for (const [name, r] of failedChecks) notReady.push([`the ${name} check failed: ${r.error ?? 'no reason given'}`, `the ${name} check failed`])
  // A session connecting again after a failure is still in its retry cycle (lastError is cleared once live).
  const troubled = stages.filter((s) => s.state === 'backoff' || (s.state === 'connecting' && s.lastError))
  const reasons: Reason[] = [
    ...notReady,
    ...troubled.map((s): Reason => {
      const open = `stage session ${s.stageArn} is ${s.state === 'connecting' ? 'reconnecting' : s.state}`
      return [s.lastError ? `${open}: ${s.lastError}` : open, open]
    }),
  ]
  const status: RelayStatus = !link.registered || failedChecks.length > 0 ? 'unhealthy' : reasons.length > 0 ? 'degraded' : 'healthy'
  return {
    status,
    reasons: reasons.map((r) => r[0]),
    notReady: notReady.map((r) => r[0]),
    publicReasons: reasons.map((r) => r[1]),
    publicNotReady: notReady.map((r) => r[1]),
  }
}

/** One line for every stage that carries no media (each stage's own `notice` says the same). */
function noMediaNotices(stages: number): string[] {
  if (stages === 0) return []
  const which = stages === 1 ? '1 stage is a local stage' : `${stages} stages are local stages`
  return [`${which}: no media, so the relay does not connect (set LOCAL_WHIP_URL on serve to a WHIP endpoint to publish into them)`]
}

interface Peer {
  requestIP(request: Request): { address: string } | null
}

/** Says whether a /health request may see the details; throws for a wrong credential or a locked-out address. */
export type DetailsGate = (request: Request, server: Peer | null) => boolean

/**
 * Who sees /health's details: the API key (`x-api-key`) or METRICS_TOKEN (`Authorization: Bearer`),
 * as for /metrics. No credential: the public view. A wrong one: 401, charged to the address's guess
 * budget (the one /whip and /metrics share), and 429 while the address is locked out.
 */
export function detailsGate(options: {
  /** Called once per request that presents x-api-key. */
  isApiKey(key: string, request: Request): boolean
  metricsToken: string | null
  guesses: GuessBudget
  clientOf(request: Request, server: Peer | null): string
}): DetailsGate {
  const token = options.metricsToken ? new SecretCheck(options.metricsToken) : null
  return (request, server) => {
    const key = request.headers.get('x-api-key')
    const authorization = request.headers.get('authorization')
    if (key === null && authorization === null) return false
    const client = options.clientOf(request, server)
    refuseIfLocked(options.guesses, client)
    if ((key !== null && options.isApiKey(key, request)) || token?.matches(bearerOf({ authorization: authorization ?? undefined }))) return true
    void options.guesses.fail(client)
    throw new AppError('UNAUTHORIZED', 'send x-api-key or Authorization: Bearer <METRICS_TOKEN> for the details, or no credential for the public report')
  }
}

export interface RelayHealthDeps {
  version: string
  serverId: string
  /** Wall-clock ms of the start, read against `clock`. */
  startedAt: number
  clock: Clock
  link: LinkState
  /** One feeding relay: whether this one holds the stage sessions, and who serve says feeds. */
  feeding: FeedingView
  checks: HealthCheck[]
  fanout: Fanout
  /** Who sees the details (session id, error texts, the API server's address); everyone else gets counts and states. */
  details: DetailsGate
}

/**
 * `/health`, `/health/live`, `/health/ready` of the relay. `/health` carries the original media
 * server's body at the top level (status, service, version, serverId, uptime, stats), `feeding`
 * beside it (whether this relay publishes into the stages: issue 21), and is also this
 * project's envelope (`success`, `data` with the same report plus detail, `timestamp`); it answers
 * 200 whatever the status. `/health/ready` is the gate: 503 UPSTREAM_UNAVAILABLE with the reasons.
 * Without a credential both show counts and states (`view: 'public'`); the publisher's session id,
 * error texts (stages', registration's, checks') and the API server's address need the API key or
 * METRICS_TOKEN (`view: 'full'`).
 */
export function relayHealthRoutes(deps: RelayHealthDeps) {
  const { fanout, link } = deps
  const uptime = () => uptimeSeconds(deps.clock.now(), deps.startedAt)
  const checkAll = cachedChecks(deps.checks)
  const report = async (full: boolean) => {
    const checks = await checkAll()
    const stages = fanout.stageSnapshots()
    const assessment = assess(link, checks, stages)
    const liveStages = stages.filter((s) => s.state === 'live').length
    const publisher = fanout.publisherSession
    const summary = {
      status: assessment.status,
      service: SERVICE,
      version: deps.version,
      serverId: deps.serverId,
      uptime: uptime(),
      stats: { publisherActive: publisher !== null, connectedStages: liveStages, activeConnections: liveStages + (publisher ? 1 : 0) },
      // Beside the original body's stats, not inside: only the feeding relay holds stage sessions.
      feeding: deps.feeding.feeding,
    }
    const count = (state: StageSessionState) => stages.filter((s) => s.state === state).length
    const { session, ...publisherFigures } = publisher?.stats() ?? { session: null }
    const common = {
      ...summary,
      mode: 'relay' as const,
      view: full ? ('full' as const) : ('public' as const),
      registered: link.registered,
      followingEvents: link.following,
      feedingRelay: deps.feeding.feedingRelay,
      keyframeRequestsSent: fanout.keyframes.sent,
      pacing: fanout.pacingStats(),
      stageCounts: { total: stages.length, live: liveStages, connecting: count('connecting'), backoff: count('backoff'), noMedia: count('no-media') },
      // Not a fault (status stays healthy): what the relay does not do, and why.
      notices: noMediaNotices(stages.filter((s) => s.state === 'no-media').length),
    }
    const data = full
      ? {
          ...common,
          apiServer: link.apiServerUrl,
          lastRegistrationError: link.lastRegistrationError,
          reasons: assessment.reasons,
          checks,
          publisher: publisher ? { active: true, session, ...publisherFigures } : { active: false },
          stages,
        }
      : {
          ...common,
          reasons: assessment.publicReasons,
          checks: Object.fromEntries(Object.entries(checks).map(([name, { error: _, ...result }]) => [name, result])),
          publisher: publisher ? { active: true, ...publisherFigures } : { active: false },
          stages: stages.map(({ lastError: _, ...stage }) => stage),
        }
    return { summary, data, notReady: full ? assessment.notReady : assessment.publicNotReady }
  }
  return new Elysia({ prefix: '/health', tags: ['health'] })
    .get('', async ({ request, server }) => {
      const { summary, data } = await report(deps.details(request, server))
      const { success, timestamp } = ok(data)
      return { success, ...summary, data, timestamp }
    })
    .get('/live', () => ok({ status: 'ok' as const, version: deps.version, mode: 'relay' as const, uptime: uptime() }))
    .get('/ready', async ({ request, server, set }) => {
      const { data, notReady } = await report(deps.details(request, server))
      if (notReady.length === 0) return ok(data)
      set.status = 503
      return errorBody('UPSTREAM_UNAVAILABLE', notReady.join('; '), { reasons: notReady, health: data })
    })
}
