import { Elysia } from 'elysia'
import type { RelayService } from '../../fleet/relays'
import type { ReplicationService } from '../../fleet/replication'
import type { StageService } from '../../fleet/stages'
import type { TokenService } from '../../fleet/tokens'
import { ok, responses } from '../../web/envelope'
import type { Authenticator } from '../auth'
import { SECURITY } from '../security'
import { stageJson } from '../stages/model'
import { MediaServerTokenBody, PublisherToken } from '../tokens/model'
import { MediaHeartbeatBody, MediaHeartbeatResult, MediaStages, MediaStagesFeeding, MediaStagesQuery, RegisterBody } from './model'

/**
 * The relay's control plane. Every route needs the API key. Where a relay obtains credentials or
 * identity (register, token) it also needs x-media-auth when MEDIA_SERVER_SECRET is set; the stage
 * list and heartbeats take the API key alone, as the original media server sends them, but a wrong
 * x-media-auth, when sent, is still refused. A heartbeat that decides the feeding relay (it reports
 * `publisherAgeMs`, or speaks for a relay that does) needs x-media-auth too (fleet/relays.ts).
 */
export function mediaRoutes(deps: {
  relays: RelayService
  stages: StageService
  tokens: TokenService
  auth: Authenticator
  /** Where the relay publishes (FANOUT_MODE): every stage, hybrid's origins, or none; without it every stage. */
  fanout?: Pick<ReplicationService, 'relayStages'>
}) {
  const { relays, tokens, auth } = deps
  const stages = async () => ({ stages: (await (deps.fanout ? deps.fanout.relayStages() : deps.stages.list())).map(stageJson) })
  return (
    new Elysia({ prefix: '/api/media', tags: ['relay'] })
      // Auth runs before validation: an unauthenticated caller learns nothing about the schemas.
      .onTransform(({ headers, path }) =>
        path.endsWith('/stages') || path.endsWith('/heartbeat') ? auth.requireApiKeyAndAnyMediaSecret(headers) : auth.requireMedia(headers),
      )
      .post(
        '/register',
        async ({ body }) => {
          await relays.register(body)
          return ok(await stages())
        },
        {
          body: RegisterBody,
          response: responses(MediaStages, [403]),
          detail: { summary: 'Register a relay', description: 'Makes the relay known and returns the stages it must publish to.', security: SECURITY.media },
        },
      )
      .get(
        '/stages',
        async ({ query }) => {
          const listed = await stages()
          return ok(query.serverId === undefined ? listed : { ...listed, ...(await relays.feeding(query.serverId)) })
        },
        {
          query: MediaStagesQuery,
          response: responses(MediaStagesFeeding, [403]),
          detail: {
            summary: 'Stages to publish to',
            description:
              'The stages the relay publishes into, draining ones included (their viewers still watch until they rejoin): by FANOUT_MODE, every stage (relay), the origin stages only (hybrid: the others get a replica of an origin), or none (replicate: the broadcaster publishes into the master and IVS replicates it). With `?serverId=`, also whether that relay is the feeding relay (`feeding`) and which one is (`feedingRelay`): only the relay that holds the broadcaster publishes into the stages. The API key alone is enough; a wrong x-media-auth, when sent, is refused.',
            security: SECURITY.apiKey,
          },
        },
      )
      .post('/token', async ({ body }) => ok(await tokens.mediaServer(body)), {
        body: MediaServerTokenBody,
        response: responses(PublisherToken, [403, 404, 409]),
        detail: {
          summary: 'Relay publish token',
          description:
            'Same as POST /api/token/mediaserver: 409 CONFLICT for a stage the relay does not publish into (FANOUT_MODE=replicate: any; hybrid: one fed by a replica).',
          security: SECURITY.media,
        },
      })
      .post(
        '/heartbeat',
        async ({ body, headers }) => {
          await relays.heartbeat(body, auth.provesMediaSecret(headers))
          return ok({ ok: true as const })
        },
        {
          body: MediaHeartbeatBody,
          response: responses(MediaHeartbeatResult, [403, 404]),
          detail: {
            summary: 'Relay heartbeat',
            description:
              "Reports publisher state and connected stages (a count or the list of ARNs); 404 when the relay has not registered. The API key alone is enough for the original media server's heartbeat; a wrong x-media-auth, when sent, is refused. When MEDIA_SERVER_SECRET is set, `publisherAgeMs` (which decides the feeding relay) needs x-media-auth, and so does any heartbeat for a relay that has reported it (401 without).",
            security: SECURITY.apiKey,
          },
        },
      )
  )
}
