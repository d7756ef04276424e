import { t } from 'elysia'
import type { StageView } from '../../store/types'
import { PRINTABLE_TEXT_RULE, PrintableText } from '../../web/printable-text'
import { EXAMPLE_STAGE_ARN, IsoTime, iso, StageArn, StageStatus } from '../schemas'

const StageName = t.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[a-zA-Z0-9_-]+$',
  error: 'name must be 1-128 letters, digits, "-" or "_"',
  example: 'fleet-3',
})
const TAGS_ERROR = `tags must be an object of at most 50 string values; keys 1-128 and values at most 256 characters of printable text: ${PRINTABLE_TEXT_RULE}`
// The key's pattern becomes the record's patternProperties; additionalProperties: false refuses the other keys.
const Tags = t.Record(
  PrintableText('tags key', { min: 1, max: 128 }, { error: TAGS_ERROR }),
  PrintableText('tags value', { min: 0, max: 256 }, { error: TAGS_ERROR }),
  {
    maxProperties: 50,
    additionalProperties: false,
    error: TAGS_ERROR,
    example: { team: 'live' },
  },
)

export const Stage = t.Object(
  {
    stageArn: StageArn,
    name: t.String(),
    isMaster: t.Boolean(),
    status: StageStatus,
    viewerCount: t.Integer(),
    capacity: t.Integer(),
    createdAt: IsoTime,
    endpoints: t.Object({
      whip: t.Nullable(t.String({ description: 'null: the stage carries no media (a local stage, no AWS, without LOCAL_WHIP_URL)' })),
      events: t.String(),
    }),
    tags: t.Record(t.String(), t.String()),
  },
  {
    example: {
      stageArn: EXAMPLE_STAGE_ARN,
      name: 'ivsf-1',
      isMaster: false,
      status: 'active',
      viewerCount: 12,
      capacity: 50,
      createdAt: '2026-11-23T12:00:00.000Z',
      endpoints: { whip: 'https://global.whip.live-video.net', events: 'wss://global.events.live-video.net' },
      tags: { 'ivs-fanout:fleet': 'ivsf' },
    },
  },
)

export const StageList = t.Object({ stages: t.Array(Stage) })

export const Publisher = t.Object({
  active: t.Boolean(),
  updatedAt: t.Nullable(IsoTime),
  serverId: t.Nullable(t.String()),
  source: t.Nullable(
    t.Union([t.Literal('relay'), t.Literal('ivs')], {
      description: "who says so: an online relay, or IVS's participant list of the master stage when no relay is online",
    }),
  ),
})

export const MasterInfo = t.Object({ stage: Stage, publisher: Publisher })

// An empty body arrives as {} (see body-limit.ts), so the object itself is required.
export const CreateStageBody = t.Object(
  { name: t.Optional(StageName), tags: t.Optional(Tags) },
  { additionalProperties: false, example: { name: 'overflow-1', tags: { team: 'live' } } },
)

export const UpdateStageBody = t.Object({ name: StageName }, { additionalProperties: false, example: { name: 'renamed-stage' } })

export const StageParams = t.Object({ stageArn: StageArn })

export const DeletedStage = t.Object({ stageArn: StageArn, removedViewers: t.Integer() })

export function stageJson(stage: StageView) {
  return {
    stageArn: stage.arn,
    name: stage.name,
    isMaster: stage.isMaster,
    status: stage.status,
    viewerCount: stage.viewerCount,
    capacity: stage.capacity,
    createdAt: iso(stage.createdAt)!,
    endpoints: stage.endpoints,
    tags: stage.tags,
  }
}
