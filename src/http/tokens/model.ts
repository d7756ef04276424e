import { t } from 'elysia'
import { MAX_TOKEN_TTL_MIN } from '../../config/ivs-access'
import { Attributes, EXAMPLE_STAGE_ARN, IsoTime, ParticipantId, ServerId, StageArn, UserId } from '../schemas'

const Jwt = t.String({ description: 'IVS participant token (JWT)', example: 'eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9.e30.sig' })
const Capabilities = t.Array(t.Union([t.Literal('PUBLISH'), t.Literal('SUBSCRIBE')]), { example: ['PUBLISH', 'SUBSCRIBE'] })

export const PublisherTokenBody = t.Object(
  {
    userId: UserId,
    attributes: t.Optional(Attributes),
    durationMinutes: t.Optional(
      t.Integer({
        minimum: 1,
        maximum: MAX_TOKEN_TTL_MIN,
        error: `durationMinutes must be a whole number from 1 to ${MAX_TOKEN_TTL_MIN} (14 days)`,
        example: 240,
      }),
    ),
  },
  { additionalProperties: false, example: { userId: 'publisher-123' } },
)

export const PublisherToken = t.Object(
  {
    token: Jwt,
    participantId: ParticipantId,
    stageArn: StageArn,
    whipUrl: t.Nullable(
      t.String({
        description: 'where to publish into the stage over WHIP; null when the stage carries no media (a local stage, no AWS, without LOCAL_WHIP_URL)',
        example: 'https://global.whip.live-video.net',
      }),
    ),
    expirationTime: IsoTime,
    capabilities: Capabilities,
  },
  {
    example: {
      token: 'eyJ...',
      participantId: 'p4rTiC1pAnT1',
      stageArn: EXAMPLE_STAGE_ARN,
      whipUrl: 'https://global.whip.live-video.net',
      expirationTime: '2026-11-23T16:00:00.000Z',
      capabilities: ['PUBLISH', 'SUBSCRIBE'],
    },
  },
)

export const ViewerTokenBody = t.Object(
  { userId: UserId, attributes: t.Optional(Attributes) },
  { additionalProperties: false, example: { userId: 'viewer-456' } },
)

export const ViewerToken = t.Object(
  {
    token: Jwt,
    participantId: ParticipantId,
    stageArn: StageArn,
    expirationTime: IsoTime,
    heartbeatIntervalMs: t.Integer({ example: 15000 }),
    viewerSession: t.String({ description: 'send as Authorization: Bearer to the viewer routes and /ws?type=viewer', example: 'v2.WyJ2aWV3ZXIt...' }),
  },
  {
    example: {
      token: 'eyJ...',
      participantId: 'p4rTiC1pAnT1',
      stageArn: EXAMPLE_STAGE_ARN,
      expirationTime: '2026-11-23T13:00:00.000Z',
      heartbeatIntervalMs: 15000,
      viewerSession: 'v2.WyJ2...',
    },
  },
)

/** A relay's request for a stage's publish token: POST /api/token/mediaserver and POST /api/media/token, one body. */
export const MediaServerTokenBody = t.Object(
  { serverId: ServerId, stageArn: StageArn },
  { additionalProperties: false, example: { serverId: 'relay-1', stageArn: EXAMPLE_STAGE_ARN } },
)
