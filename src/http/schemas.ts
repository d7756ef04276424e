import { t } from 'elysia'
import { AppError } from '../errors'
import { STAGE_ARN_PATTERN } from '../ivs/arn'
import { STAGE_STATUSES } from '../store/types'
import { literals } from '../web/envelope'
import { describeLimits, PRINTABLE_TEXT_RULE, PrintableText } from '../web/printable-text'

export const EXAMPLE_STAGE_ARN = 'arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456'
export const MAX_ATTRIBUTES_BYTES = 1024

export const USER_ID_LIMITS = { min: 1, max: 128 }

export const UserId = PrintableText('userId', USER_ID_LIMITS, { description: 'your identifier for the user', example: 'viewer-456' })

export const StageArn = t.String({
  pattern: STAGE_ARN_PATTERN.source,
  error: 'stageArn must be an IVS stage ARN: arn:aws:ivs:<region>:<12-digit account>:stage/<12 letters or digits>',
  description: 'IVS stage ARN',
  example: EXAMPLE_STAGE_ARN,
})

const ATTRIBUTE_KEY_LIMITS = { min: 1, max: 128 }
const ATTRIBUTE_VALUE_LIMITS = { min: 0, max: MAX_ATTRIBUTES_BYTES }
const ATTRIBUTES_ERROR = `attributes must be an object of string values, at most 1 KB in total; keys ${describeLimits(ATTRIBUTE_KEY_LIMITS)} and values ${describeLimits(ATTRIBUTE_VALUE_LIMITS)} of printable text: ${PRINTABLE_TEXT_RULE}`

// The key's pattern becomes the record's patternProperties; additionalProperties: false refuses the other keys.
export const Attributes = t.Record(
  PrintableText('attributes key', ATTRIBUTE_KEY_LIMITS, { error: ATTRIBUTES_ERROR }),
  PrintableText('attributes value', ATTRIBUTE_VALUE_LIMITS, { error: ATTRIBUTES_ERROR }),
  {
    maxProperties: 64,
    additionalProperties: false,
    error: ATTRIBUTES_ERROR,
    description: 'string map attached to the participant (IVS limit: 1 KB in total)',
    example: { displayName: 'Ada' },
  },
)

/** 'active' (takes new viewers) or 'draining' (its viewers are asked to rejoin elsewhere): the store's one list. */
export const StageStatus = t.Union(literals(STAGE_STATUSES))

export const ParticipantId = PrintableText('participantId', { min: 1, max: 64 }, { description: 'IVS participant id', example: 'p4rTiC1pAnT1' })
export const ServerId = t.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9._-]+$',
  error: 'serverId must be 1-128 letters, digits, ".", "_" or "-"',
  example: 'relay-1',
})
export const IsoTime = t.String({ format: 'date-time', example: '2026-11-23T12:00:00.000Z' })

/** TypeBox cannot bound a map's total size, so the 1 KB IVS limit is checked here. */
export function checkAttributes(attributes: Record<string, string> | undefined): void {
  if (!attributes) return
  let bytes = 0
  for (const [key, value] of Object.entries(attributes)) bytes += Buffer.byteLength(key) + Buffer.byteLength(value)
  if (bytes > MAX_ATTRIBUTES_BYTES) {
    throw new AppError('VALIDATION_ERROR', `attributes must be at most ${MAX_ATTRIBUTES_BYTES} bytes in total, got ${bytes}`, { field: 'attributes' })
  }
}

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
