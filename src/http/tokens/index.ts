import { Elysia } from 'elysia'
import type { TokenService } from '../../fleet/tokens'
import type { ViewerService } from '../../fleet/viewers'
import { ok, responses } from '../../web/envelope'
import type { Authenticator } from '../auth'
import { checkAttributes } from '../schemas'
import { SECURITY } from '../security'
import { MediaServerTokenBody, PublisherToken, PublisherTokenBody, ViewerToken, ViewerTokenBody } from './model'

export function tokenRoutes({ tokens, viewers, auth }: { tokens: TokenService; viewers: ViewerService; auth: Authenticator }) {
  return new Elysia({ prefix: '/api/token', tags: ['tokens'] })
    .post(
      '/publisher',
      async ({ body }) => {
        checkAttributes(body.attributes)
        return ok(await tokens.publisher(body))
      },
      {
        transform: ({ headers }) => auth.requireApiKey(headers),
        body: PublisherTokenBody,
        response: responses(PublisherToken, [503]),
        detail: {
          summary: 'Publisher token',
          description: 'A publish+subscribe participant token for the master stage, with its WHIP URL.',
          security: SECURITY.apiKey,
        },
      },
    )
    .post(
      '/viewer',
      async ({ body }) => {
        checkAttributes(body.attributes)
        return ok(await viewers.issueToken(body))
      },
      {
        transform: ({ headers }) => auth.requireApiKey(headers),
        body: ViewerTokenBody,
        response: responses(ViewerToken, [503]),
        detail: {
          summary: 'Viewer token',
          description:
            'Assigns the viewer to the first stage with a free seat, registers it as present and returns a subscribe-only token plus a viewerSession for heartbeats. 503 CAPACITY_EXHAUSTED (with Retry-After) when every stage is full and MAX_STAGES is reached.',
          security: SECURITY.apiKey,
        },
      },
    )
    .post('/mediaserver', async ({ body }) => ok(await tokens.mediaServer(body)), {
      transform: ({ headers }) => auth.requireMedia(headers),
      body: MediaServerTokenBody,
      response: responses(PublisherToken, [403, 404, 409]),
      detail: {
        summary: 'Relay publish token',
        description:
          'A publish-only token for the relay into one stage. 409 CONFLICT when the relay does not publish into that stage: FANOUT_MODE=replicate (no stage), or hybrid and the stage is fed by a replica of an origin (GET /api/media/stages lists the ones it does).',
        security: SECURITY.media,
      },
    })
}
