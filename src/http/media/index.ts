import { Elysia } from 'elysia'
import type { RouteDeps } from '../deps'
import { ok, responses } from '../envelope'
import { SECURITY } from '../security'
import { stageJson } from '../stages/model'
import { PublisherToken } from '../tokens/model'
import { MediaHeartbeatBody, MediaHeartbeatResult, MediaStages, MediaTokenBody, RegisterBody } from './model'

/** The relay's control plane. Every route needs the API key and, when configured, x-media-auth. */
export function mediaRoutes({ fleet, auth, config }: RouteDeps) {
  const stages = async () => ({ stages: (await fleet.listStages()).map((s) => stageJson(s, config.stageCapacity)) })
  return new Elysia({ prefix: '/api/media', tags: ['relay'] })
    // Auth runs before validation: an unauthenticated caller learns nothing about the schemas.
    .onTransform(({ headers }) => auth.requireMedia(headers))
    .post(
      '/register',
      async ({ body }) => {
        await fleet.registerRelay(body)
        return ok(await stages())
      },
      { body: RegisterBody, response: responses(MediaStages, [403]), detail: { summary: 'Register a relay', description: 'Makes the relay known and returns the stages it must publish to.', security: SECURITY.media } },
    )
    .get('/stages', async () => ok(await stages()), {
      response: responses(MediaStages, [403]),
      detail: { summary: 'Stages to publish to', description: 'Every stage of the fleet, draining ones included (their viewers still watch until they rejoin).', security: SECURITY.media },
    })
    .post('/token', async ({ body }) => ok(await fleet.issueMediaServerToken(body)), {
      body: MediaTokenBody,
      response: responses(PublisherToken, [403, 404]),
      detail: { summary: 'Relay publish token', description: 'Same as POST /api/token/mediaserver.', security: SECURITY.media },
    })
    .post(
      '/heartbeat',
      async ({ body }) => {
        await fleet.relayHeartbeat(body)
        return ok({ ok: true as const })
      },
      { body: MediaHeartbeatBody, response: responses(MediaHeartbeatResult, [403, 404]), detail: { summary: 'Relay heartbeat', description: 'Reports publisher state and connected stages; 404 when the relay has not registered.', security: SECURITY.media } },
    )
}
