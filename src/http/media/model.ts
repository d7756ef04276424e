import { t } from 'elysia'
import { EXAMPLE_STAGE_ARN, ServerId, StageArn } from '../schemas'
import { Stage } from '../stages/model'

export const RegisterBody = t.Object(
  {
    serverId: ServerId,
    ipAddress: t.String({ minLength: 2, maxLength: 64, pattern: '^[0-9A-Fa-f:.]+$', error: 'ipAddress must be an IPv4 or IPv6 address', example: '10.0.0.12' }),
    port: t.Integer({ minimum: 1, maximum: 65535, error: 'port must be from 1 to 65535', example: 3001 }),
  },
  { additionalProperties: false, example: { serverId: 'relay-1', ipAddress: '10.0.0.12', port: 3001 } },
)

export const MediaStages = t.Object({ stages: t.Array(Stage) })

export const MediaTokenBody = t.Object(
  { serverId: ServerId, stageArn: StageArn },
  { additionalProperties: false, example: { serverId: 'relay-1', stageArn: EXAMPLE_STAGE_ARN } },
)

export const MediaHeartbeatBody = t.Object(
  {
    serverId: ServerId,
    publisherActive: t.Boolean(),
    connectedStages: t.Array(StageArn, { maxItems: 1000, error: 'connectedStages must be a list of stage ARNs' }),
  },
  { additionalProperties: false, example: { serverId: 'relay-1', publisherActive: true, connectedStages: [EXAMPLE_STAGE_ARN] } },
)

export const MediaHeartbeatResult = t.Object({ ok: t.Literal(true) })
