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

export const MediaStagesQuery = t.Object(
  // The asking relay: the answer then says whether it is the feeding relay.
  { serverId: t.Optional(ServerId) },
  { additionalProperties: false },
)

/** The stages, and with `?serverId=` which relay feeds them (issue 21: one feeding relay). */
export const MediaStagesFeeding = t.Object(
  {
    stages: t.Array(Stage),
    feeding: t.Optional(t.Boolean({ description: 'the asking relay is the feeding relay: it publishes into the stages (only with ?serverId=)' })),
    feedingRelay: t.Optional(
      t.Nullable(t.String({ description: 'the relay that holds the broadcaster and publishes into the stages; null when none does (only with ?serverId=)' })),
    ),
  },
  { example: { stages: [], feeding: true, feedingRelay: 'relay-1' } },
)

const count = (description: string) => t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description })

/** A relay's report of its publisher's video ingest (relay/control/media-report.ts), as heartbeats carry it and /api/stats/publisher returns it. */
export const RelayIngest = t.Object(
  {
    videoPackets: count('unique video packets received (this publisher session)'),
    missing: count('video packets found missing, before repair'),
    repaired: count('missing packets that came on retransmission (NACK) while still wanted'),
    unrepaired: count('missing packets given up on'),
    lossRatio: t.Number({ minimum: 0, maximum: 1, description: "missing / expected: the uplink's loss before repair (0..1)" }),
    keyframeIntervalMs: t.Nullable(t.Integer({ minimum: 0, maximum: 3_600_000, description: "the publisher's keyframe interval, measured (null: not yet)" })),
  },
  { additionalProperties: false },
)

/** A relay's stage sessions by state (no-media: a local stage, nothing to connect to). */
export const StageSessionCounts = t.Object(
  { connecting: count('connecting'), live: count('live'), backoff: count('waiting to retry after a failure'), noMedia: count('a local stage without media') },
  { additionalProperties: false, description: "this project's relays: their stage sessions by state" },
)

export const MediaHeartbeatBody = t.Object(
  {
    serverId: ServerId,
    publisherActive: t.Boolean(),
    connectedStages: t.Union([t.Integer({ minimum: 0, maximum: 10_000 }), t.Array(StageArn, { maxItems: 1000 })], {
      error: 'connectedStages must be a count (0-10000) or a list of stage ARNs',
      description: 'how many stages the relay publishes to, or which ones',
    }),
    publisherAgeMs: t.Optional(
      t.Nullable(
        t.Integer({
          minimum: 0,
          maximum: 10 * 365 * 24 * 3600 * 1000,
          error: 'publisherAgeMs must be a whole number of milliseconds, at least 0',
          description:
            "how long the relay's publisher has been connected (null: none connected); decides the feeding relay, so it needs x-media-auth when MEDIA_SERVER_SECRET is set",
        }),
      ),
    ),
    ingest: t.Optional(
      t.Nullable(RelayIngest, {
        description: "this project's relays: the publisher's video ingest (null: no publisher); shown on the dashboard, decides nothing",
      }),
    ),
    stageSessions: t.Optional(StageSessionCounts),
  },
  { additionalProperties: false, example: { serverId: 'media-server-01', publisherActive: true, connectedStages: 5 } },
)

export const MediaHeartbeatResult = t.Object({ ok: t.Literal(true) })
