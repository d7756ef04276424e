import { t } from 'elysia'
import { AppError } from '../errors'
import { STAGE_ARN_PATTERN } from '../ivs/arn'

export const EXAMPLE_STAGE_ARN = 'arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456'
export const MAX_ATTRIBUTES_BYTES = 1024

export const UserId = t.String({
  minLength: 1,
  maxLength: 128,
  error: 'userId must be 1-128 characters',
  description: 'your identifier for the user (1-128 characters)',
  example: 'viewer-456',
})

export const StageArn = t.String({
  pattern: STAGE_ARN_PATTERN.source,
  error: 'stageArn must be an IVS stage ARN: arn:aws:ivs:<region>:<12-digit account>:stage/<12 letters or digits>',
  description: 'IVS stage ARN',
  example: EXAMPLE_STAGE_ARN,
})

export const Attributes = t.Record(t.String({ maxLength: 128 }), t.String({ maxLength: MAX_ATTRIBUTES_BYTES }), {
  maxProperties: 64,
  error: 'attributes must be an object of string values, at most 1 KB in total',
  description: 'string map attached to the participant (IVS limit: 1 KB in total)',
  example: { displayName: 'Ada' },
})

export const ParticipantId = t.String({ minLength: 1, maxLength: 64, description: 'IVS participant id', example: 'p4rTiC1pAnT1' })
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
