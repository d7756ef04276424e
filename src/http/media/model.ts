import { t } from 'elysia'
import { ServerId, StageArn } from '../schemas'
import { Stage } from '../stages/model'

export const RegisterBody = t.Object(
  {
    serverId: ServerId,
    ipAddress: t.String({
      minLength: 1,
      maxLength: 253,
      // An IPv4 or IPv6 address, or a host name (RFC 1123 labels), e.g. localhost as the original .env has it.
      pattern: '^(?:[0-9A-Fa-f:.]+|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\\.?)$',
      error: 'ipAddress must be an IPv4 or IPv6 address or a host name (letters, digits, "-" and "." only)',
      example: '10.0.0.12',
    }),
    port: t.Integer({ minimum: 1, maximum: 65535, error: 'port must be from 1 to 65535', example: 3001 }),
  },
  { additionalProperties: false, example: { serverId: 'relay-1', ipAddress: '10.0.0.12', port: 3001 } },
)

export const MediaStages = t.Object({ stages: t.Array(Stage) })

export const MediaHeartbeatBody = t.Object(
  {
    serverId: ServerId,
    publisherActive: t.Boolean(),
    connectedStages: t.Union([t.Integer({ minimum: 0, maximum: 10_000 }), t.Array(StageArn, { maxItems: 1000 })], {
      error: 'connectedStages must be a count (0-10000) or a list of stage ARNs',
      description: 'how many stages the relay publishes to, or which ones',
    }),
  },
  { additionalProperties: false, example: { serverId: 'media-server-01', publisherActive: true, connectedStages: 5 } },
)

export const MediaHeartbeatResult = t.Object({ ok: t.Literal(true) })
