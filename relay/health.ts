import { Elysia } from 'elysia'
import type { Clock } from '../src/clock'
import { errorBody, ok } from '../src/web/envelope'
import { type CheckResult, cachedChecks, type HealthCheck, uptimeSeconds } from '../src/web/health-checks'
import type { Fanout } from './fanout'
import type { StageState } from './stage-session'

/** `service` in the original media server's /health body. */
export const SERVICE = 'ivs-fanout-relay'

export type RelayStatus = 'healthy' | 'degraded' | 'unhealthy'

/** What the composition root knows about its link to the API server. */
export interface LinkState {
  readonly apiServerUrl: string
  /** The API server accepted POST /api/media/register (and has not since answered 404 to a heartbeat). */
  readonly registered: boolean
  /** The `/ws?type=media-server` event socket is open. */
  readonly following: boolean
  /** Why the last registration attempt failed (null once registered). */
  readonly lastRegistrationError: string | null
}

/** The mutable side of LinkState, written by relay/main.ts as registration and the event socket change. */
export class ControlLink implements LinkState {
  registered = false
  following = false
  lastRegistrationError: string | null = null

  constructor(readonly apiServerUrl: string) {}

  markRegistered(): void {
    this.registered = true
    this.lastRegistrationError = null
  }

  /** A registration attempt failed, or the API server no longer knows this relay. */
  markUnregistered(reason: string): void {
    this.registered = false
    this.lastRegistrationError = reason
  }

  markFollowing(open: boolean): void {
    this.following = open
  }
}

export interface Assessment {
  status: RelayStatus
  /** Everything that keeps the status from `healthy`. */
  reasons: string[]
  /** The subset that makes /health/ready answer 503 (empty = ready). */
  notReady: string[]
}

/**
 * The relay's status, from its link to the API server, its checks and its stage sessions:
 * `unhealthy` while not registered or a check fails; `degraded` while registered but the event socket
 * is closed or a stage session is in `backoff`/`failed` (or connecting again after a failure: a first
 * `connecting` is on its way and counts as fine); `healthy` otherwise. Ready = registered, following events, and every check passing.
 */
export function assess(
  link: LinkState,
  checks: Record<string, CheckResult>,
  stages: readonly { stageArn: string; state: StageState; lastError?: string | null }[],
): Assessment {
  const notReady: string[] = []
  if (!link.registered)
    notReady.push(`not registered with the API server at ${link.apiServerUrl}: ${link.lastRegistrationError ?? 'the first registration has not completed yet'}`)
  if (!link.following) notReady.push(`not following the API server's events (its /ws?type=media-server socket at ${link.apiServerUrl} is not open)`)
  const failedChecks = Object.entries(checks).filter(([, r]) => !r.ok)
  for (const [name, r] of failedChecks) notReady.push(`the ${name} check failed: ${r.error ?? 'no reason given'}`)
  // A session connecting again after a failure is still in its retry cycle (lastError is cleared once live).
  const troubled = stages.filter((s) => s.state === 'backoff' || s.state === 'failed' || (s.state === 'connecting' && s.lastError))
  const reasons = [
    ...notReady,
    ...troubled.map((s) => `stage session ${s.stageArn} is ${s.state === 'connecting' ? 'reconnecting' : s.state}${s.lastError ? `: ${s.lastError}` : ''}`),
  ]
  const status: RelayStatus = !link.registered || failedChecks.length > 0 ? 'unhealthy' : reasons.length > 0 ? 'degraded' : 'healthy'
  return { status, reasons, notReady }
}

export interface RelayHealthDeps {
  version: string
  serverId: string
  /** Wall-clock ms of the start, read against `clock`. */
  startedAt: number
  clock: Clock
  link: LinkState
  checks: HealthCheck[]
  fanout: Fanout
}

/**
 * `/health`, `/health/live`, `/health/ready` of the relay. `/health` carries the original media
 * server's body at the top level (status, service, version, serverId, uptime, stats) and is also this
 * project's envelope (`success`, `data` with the same report plus detail, `timestamp`); it answers
 * 200 whatever the status. `/health/ready` is the gate: 503 UPSTREAM_UNAVAILABLE with the reasons.
 */
export function relayHealthRoutes(deps: RelayHealthDeps) {
  const { fanout, link } = deps
  const uptime = () => uptimeSeconds(deps.clock.now(), deps.startedAt)
  const checkAll = cachedChecks(deps.checks)
  const report = async () => {
    const checks = await checkAll()
    const stages = fanout.stageSnapshots()
    const { status, reasons, notReady } = assess(link, checks, stages)
    const liveStages = stages.filter((s) => s.state === 'live').length
    const publisher = fanout.publisherSession
    const summary = {
      status,
      service: SERVICE,
      version: deps.version,
      serverId: deps.serverId,
      uptime: uptime(),
      stats: { publisherActive: publisher !== null, connectedStages: liveStages, activeConnections: liveStages + (publisher ? 1 : 0) },
    }
    const data = {
      ...summary,
      mode: 'relay' as const,
      registered: link.registered,
      followingEvents: link.following,
      apiServer: link.apiServerUrl,
      lastRegistrationError: link.lastRegistrationError,
      reasons,
      checks,
      publisher: publisher ? { active: true, ...publisher.stats() } : { active: false },
      keyframeRequestsSent: fanout.keyframes.sent,
      pacing: fanout.pacingStats(),
      stages,
    }
    return { summary, data, notReady }
  }
  return new Elysia({ prefix: '/health', tags: ['health'] })
    .get('', async () => {
      const { summary, data } = await report()
      const { success, timestamp } = ok(data)
      return { success, ...summary, data, timestamp }
    })
    .get('/live', () => ok({ status: 'ok' as const, version: deps.version, mode: 'relay' as const, uptime: uptime() }))
    .get('/ready', async ({ set }) => {
      const { data, notReady } = await report()
      if (notReady.length === 0) return ok(data)
      set.status = 503
      return errorBody('UPSTREAM_UNAVAILABLE', notReady.join('; '), { reasons: notReady, health: data })
    })
}
