import { t } from 'elysia'
import { PrintableText } from '../../web/printable-text'
import { EXAMPLE_STAGE_ARN, IsoTime, ParticipantId, StageArn, UserId } from '../schemas'

export const RejoinBody = t.Object(
  { userId: UserId, participantId: t.Optional(ParticipantId), stageArn: t.Optional(StageArn) },
  { additionalProperties: false, example: { userId: 'viewer-456', stageArn: EXAMPLE_STAGE_ARN } },
)

export const HeartbeatBody = t.Object(
  { userId: UserId, stageArn: StageArn, participantId: t.Optional(ParticipantId) },
  { additionalProperties: false, example: { userId: 'viewer-456', stageArn: EXAMPLE_STAGE_ARN } },
)

export const HeartbeatResult = t.Object({
  ok: t.Literal(true),
  nextHeartbeatMs: t.Integer({ example: 15000 }),
  viewerSession: t.String({ description: 'the session, refreshed: send this one from now on', example: 'v2.WyJ2aWV3ZXIt...' }),
})

export const LeaveBody = t.Object(
  { userId: UserId, stageArn: StageArn },
  { additionalProperties: false, example: { userId: 'viewer-456', stageArn: EXAMPLE_STAGE_ARN } },
)

export const LeaveResult = t.Object({ watchDurationMs: t.Integer({ example: 123000 }) })

export const ListParams = t.Object({ stageArn: StageArn })

export const ListQuery = t.Object(
  {
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000, error: 'limit must be a whole number from 1 to 1000', example: 100 })),
    cursor: t.Optional(
      PrintableText('cursor', { min: 1, max: 256 }, { error: 'cursor must be the nextCursor of a previous page (1-256 characters of printable text)' }),
    ),
  },
  { additionalProperties: false },
)

export const ViewerList = t.Object({
  viewers: t.Array(t.Object({ userId: t.String(), participantId: t.String(), joinedAt: IsoTime, lastHeartbeatAt: IsoTime })),
  nextCursor: t.Nullable(t.String({ description: 'pass as cursor for the next page; null on the last page' })),
})

export const DurationQuery = t.Object({ userId: UserId, stageArn: t.Optional(StageArn) }, { additionalProperties: false })

export const Duration = t.Object({
  userId: t.String(),
  totalMs: t.Integer({ example: 600000 }),
  sessions: t.Array(
    t.Object({
      stageArn: t.String(),
      participantId: t.String(),
      joinedAt: IsoTime,
      leftAt: t.Nullable(IsoTime),
      durationMs: t.Integer(),
      active: t.Boolean({ description: 'true while the viewer is still present' }),
    }),
  ),
})
