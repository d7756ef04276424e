import { Elysia } from 'elysia'
import type { ViewerService } from '../../fleet/viewers'
import { ok, responses } from '../../web/envelope'
import type { RateCounter } from '../../web/rate-limiter'
import type { Authenticator } from '../auth'
import { REJOIN_LIMIT, refuseRejoinOverBudget, rejoinKey } from '../rate-limit'
import { iso } from '../schemas'
import { SECURITY } from '../security'
import { ViewerToken } from '../tokens/model'
import { Duration, DurationQuery, HeartbeatBody, HeartbeatResult, LeaveBody, LeaveResult, ListParams, ListQuery, RejoinBody, ViewerList } from './model'

const DEFAULT_PAGE = 100

/** `rejoins` counts each user's rejoins (REJOIN_LIMIT), apart from the request rate limit. */
export function viewerRoutes({ viewers, auth, rejoins }: { viewers: ViewerService; auth: Authenticator; rejoins: RateCounter }) {
  return new Elysia({ prefix: '/api/viewer', tags: ['viewers'] })
    .post(
      '/rejoin',
      async ({ body, headers }) => {
        auth.requireViewer(headers, body.userId)
        refuseRejoinOverBudget(await rejoins.hit(rejoinKey(body.userId)), body.userId)
        return ok(await viewers.rejoin(body))
      },
      {
        transform: ({ headers }) => auth.requireViewerCredential(headers),
        body: RejoinBody,
        response: responses(ViewerToken, [403, 503]),
        detail: {
          summary: 'Rejoin',
          description: `A fresh viewer token (at most ${REJOIN_LIMIT.max} a minute per userId: past that 429 RATE_LIMITED with details.reason "rejoins" and Retry-After). With \`stageArn\` (the stage being left) the viewer gets a seat on another stage, and the old seat is freed in the same atomic step (no seat elsewhere: it keeps the old one and gets 503). Without it, a viewer on a draining (or deleted) stage is moved; otherwise it keeps its seat.`,
          security: SECURITY.viewer,
        },
      },
    )
    .post(
      '/heartbeat',
      async ({ body, headers }) => {
        const session = auth.requireViewer(headers, body.userId)
        return ok(await viewers.heartbeat({ ...body, participantId: session?.participantId ?? body.participantId }))
      },
      {
        transform: ({ headers }) => auth.requireViewerCredential(headers),
        body: HeartbeatBody,
        response: responses(HeartbeatResult, [403, 404]),
        detail: {
          summary: 'Viewer heartbeat',
          description:
            'Keeps the viewer present and returns a refreshed viewerSession (use it from now on: sessions slide with heartbeats). 404 REJOIN_REQUIRED when the viewer is not (or no longer) on that stage, or the stage is draining: call /api/viewer/rejoin.',
          security: SECURITY.viewer,
        },
      },
    )
    .post(
      '/leave',
      async ({ body, headers }) => {
        auth.requireViewer(headers, body.userId)
        const session = await viewers.leave(body)
        return ok({ watchDurationMs: session.durationMs })
      },
      {
        transform: ({ headers }) => auth.requireViewerCredential(headers),
        body: LeaveBody,
        response: responses(LeaveResult, [403, 404]),
        detail: { summary: 'Viewer leaves', description: 'Frees the seat and returns the watch time of this session.', security: SECURITY.viewer },
      },
    )
    .get(
      '/list/:stageArn',
      async ({ params, query }) => {
        const page = await viewers.list(params.stageArn, query.limit ?? DEFAULT_PAGE, query.cursor ?? null)
        return ok({
          viewers: page.viewers.map((v) => ({
            userId: v.userId,
            participantId: v.participantId,
            joinedAt: iso(v.joinedAt)!,
            lastHeartbeatAt: iso(v.lastHeartbeatAt)!,
          })),
          nextCursor: page.nextCursor,
        })
      },
      {
        transform: ({ headers }) => auth.requireApiKey(headers),
        params: ListParams,
        query: ListQuery,
        response: responses(ViewerList, [404]),
        detail: { summary: 'Present viewers of a stage', description: 'Paginated by cursor (limit 1-1000, default 100).', security: SECURITY.apiKey },
      },
    )
    .get(
      '/duration',
      async ({ query }) => {
        const duration = await viewers.duration(query.userId, query.stageArn ?? null)
        return ok({
          userId: duration.userId,
          totalMs: duration.totalMs,
          sessions: duration.sessions.map((s) => ({ ...s, joinedAt: iso(s.joinedAt)!, leftAt: iso(s.leftAt), active: s.leftAt === null })),
        })
      },
      {
        transform: ({ headers }) => auth.requireApiKey(headers),
        query: DurationQuery,
        response: responses(Duration),
        detail: {
          summary: 'Watch time',
          description: 'Total and per-session watch time of a user, optionally on one stage; the current session counts up to now.',
          security: SECURITY.apiKey,
        },
      },
    )
}
