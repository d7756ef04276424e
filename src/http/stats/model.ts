import { type Static, t } from 'elysia'
import type { IvsActivity } from '../../fleet/ivs-activity'
import type { FleetStats } from '../../fleet/stats'
import { RelayIngest, StageSessionCounts } from '../media/model'
import { EXAMPLE_STAGE_ARN, IsoTime, StageStatus } from '../schemas'

const StageFeed = t.Nullable(
  t.Object(
    {
      kind: t.Union([t.Literal('relay'), t.Literal('replica'), t.Literal('direct')], {
        description:
          'relay: the relay publishes into it; replica: IVS replicates a participant of originStageArn into it; direct: the broadcaster publishes into it (the master, FANOUT_MODE=replicate)',
      }),
      originStageArn: t.Optional(t.String({ description: 'for a replica: the stage it is copied from' })),
    },
    { description: 'how the stage gets its media now; null: nothing feeds it (no publisher yet, or a replica still to start)' },
  ),
)

const StageStat = t.Object({
  stageArn: t.String(),
  viewers: t.Integer(),
  capacity: t.Integer(),
  status: StageStatus,
  isMaster: t.Boolean(),
  feed: StageFeed,
})

const FanoutMode = t.Union([t.Literal('relay'), t.Literal('replicate'), t.Literal('hybrid')], {
  description: 'FANOUT_MODE: how media reaches the stages (the relay into each, IVS replicating the master, or the relay into origins that IVS replicates)',
})

const Seats = t.Object(
  {
    used: t.Integer({ description: 'present viewers: each holds a seat' }),
    open: t.Integer({ description: 'seats on the stages taking viewers (the capacity of the active stages)' }),
    ceiling: t.Integer({ description: 'the most seats the fleet can open: maxStages × stageCapacity' }),
    maxStages: t.Integer({ description: "MAX_STAGES (FANOUT_MODE=replicate: at most 6, the master and IVS's 5 replicas)" }),
    stageCapacity: t.Integer({ description: 'STAGE_CAPACITY: seats on each new stage' }),
    subscriptionQuota: t.Integer({ description: "IVS_MAX_SUBSCRIPTIONS: the account's concurrent-subscription quota; new viewers are refused past it" }),
  },
  { description: 'seats used against what the fleet can open (MAX_STAGES × STAGE_CAPACITY) and what the account allows' },
)

const IvsCallCounts = {
  attempts: t.Integer({ description: 'IVS API attempts (a retried call counts once per attempt)' }),
  ok: t.Integer(),
  throttled: t.Integer({ description: 'answered 429 ThrottlingException' }),
  errors: t.Integer({ description: 'failed otherwise (4xx, 5xx, network, timeout)' }),
  gateWaitMs: t.Integer({ description: "milliseconds the attempts waited for a slot of the fleet-wide quota gate (IVS's per-operation rate quotas), summed" }),
}

export const IvsStats = t.Object(
  {
    provider: t.Union([t.Literal('aws'), t.Literal('local')], { description: 'aws: IVS API calls; local: stages in the process, no IVS calls' }),
    since: IsoTime,
    totals: t.Object(IvsCallCounts),
    operations: t.Array(t.Object({ operation: t.String(), ...IvsCallCounts }), { description: 'each operation called at least once, most attempts first' }),
  },
  {
    description: "this instance's IVS API calls since it started (`since`), by operation and outcome, and their waits for the quota gate",
    example: {
      provider: 'aws',
      since: '2026-11-23T11:00:00.000Z',
      totals: { attempts: 15, ok: 14, throttled: 1, errors: 0, gateWaitMs: 180 },
      operations: [
        { operation: 'CreateParticipantToken', attempts: 13, ok: 12, throttled: 1, errors: 0, gateWaitMs: 180 },
        { operation: 'GetStage', attempts: 2, ok: 2, throttled: 0, errors: 0, gateWaitMs: 0 },
      ],
    },
  },
)

/** GET /api/stats/ivs is IvsActivity (fleet/ivs-activity.ts): tsc fails here when the two disagree. */
export type IvsSchemaIsIvsActivity = Expect<Same<Static<typeof IvsStats>, IvsActivity>>

export const Stats = t.Object(
  {
    totalViewers: t.Integer(),
    activeStages: t.Integer(),
    drainingStages: t.Integer(),
    publisherActive: t.Boolean(),
    capacityExhausted: t.Boolean({ description: 'new viewers get 503 CAPACITY_EXHAUSTED right now' }),
    capacityReason: t.Nullable(t.String({ description: 'why: MAX_STAGES, or an IVS account quota' })),
    fanoutMode: FanoutMode,
    activeReplications: t.Integer({ description: 'participant replications running (FANOUT_MODE replicate and hybrid)' }),
    stages: t.Array(StageStat),
    seats: Seats,
  },
  {
    example: {
      totalViewers: 12,
      activeStages: 1,
      drainingStages: 0,
      publisherActive: true,
      capacityExhausted: false,
      capacityReason: null,
      fanoutMode: 'relay',
      activeReplications: 0,
      stages: [{ stageArn: EXAMPLE_STAGE_ARN, viewers: 12, capacity: 50, status: 'active', isMaster: true, feed: { kind: 'relay' } }],
      seats: { used: 12, open: 50, ceiling: 1000, maxStages: 20, stageCapacity: 50, subscriptionQuota: 10_000 },
    },
  },
)

/**
 * FleetStats (fleet/stats.ts, which may not import elysia) is the shape, and the same object goes out
 * as the stats_update WebSocket message; this schema describes it. tsc fails here when the two
 * disagree on a field or a type, in either direction.
 */
type Same<A, B> = [A, keyof A] extends [B, keyof B] ? ([B, keyof B] extends [A, keyof A] ? true : false) : false
type Expect<T extends true> = T
export type StatsSchemaIsFleetStats = Expect<Same<Static<typeof Stats>, FleetStats>>

export const ViewerStats = t.Object(
  { totalViewers: t.Integer(), seats: t.Integer({ description: 'capacity of the stages taking viewers' }), utilisation: t.Number({ description: '0..1' }) },
  { example: { totalViewers: 12, seats: 50, utilisation: 0.24 } },
)

export const StageStats = t.Object(
  {
    activeStages: t.Integer(),
    drainingStages: t.Integer(),
    maxStages: t.Integer(),
    stages: t.Array(t.Object({ ...StageStat.properties, utilisation: t.Number() })),
  },
  {
    example: {
      activeStages: 1,
      drainingStages: 0,
      maxStages: 20,
      stages: [{ stageArn: EXAMPLE_STAGE_ARN, viewers: 12, capacity: 50, status: 'active', isMaster: true, feed: { kind: 'relay' }, utilisation: 0.24 }],
    },
  },
)

export const PublisherStats = t.Object(
  {
    active: t.Boolean(),
    updatedAt: t.Nullable(IsoTime),
    serverId: t.Nullable(t.String()),
    source: t.Nullable(
      t.Union([t.Literal('relay'), t.Literal('ivs')], {
        description: "who says so: an online relay, or IVS's participant list of the master stage when no relay is online",
      }),
    ),
    feedingRelay: t.Nullable(
      t.String({
        description: 'the relay that publishes into the stages: the one holding the broadcaster (null: none does); the others hold no stage sessions',
      }),
    ),
    relays: t.Array(
      t.Object({
        serverId: t.String(),
        state: t.Union([t.Literal('online'), t.Literal('offline')], { description: 'offline once silent for MEDIA_SERVER_TIMEOUT_MS' }),
        publisherActive: t.Boolean({ description: 'what the relay last reported; counts only while it is online' }),
        publisherSince: t.Nullable(IsoTime, {
          description: "when the relay's publisher connected, as it last reported (null: none connected, or the relay does not say)",
        }),
        feeding: t.Boolean({ description: 'this relay is the feeding relay' }),
        connectedStages: t.Integer(),
        lastHeartbeatAt: IsoTime,
        ageMs: t.Integer({ description: 'milliseconds since its last heartbeat' }),
        ingest: t.Nullable(RelayIngest, {
          description: "its publisher's video ingest as of its last heartbeat (null: no publisher, or a relay that does not report it)",
        }),
        stageSessions: t.Nullable(StageSessionCounts, { description: 'its stage sessions by state as of its last heartbeat (null: not reported)' }),
      }),
    ),
  },
  {
    example: {
      active: true,
      updatedAt: '2026-11-23T12:00:00.000Z',
      serverId: 'relay-1',
      source: 'relay',
      feedingRelay: 'relay-1',
      relays: [
        {
          serverId: 'relay-1',
          state: 'online',
          publisherActive: true,
          publisherSince: '2026-11-23T11:40:00.000Z',
          feeding: true,
          connectedStages: 3,
          lastHeartbeatAt: '2026-11-23T12:00:00.000Z',
          ageMs: 4200,
          ingest: { videoPackets: 98_000, missing: 412, repaired: 405, unrepaired: 7, lossRatio: 0.0042, keyframeIntervalMs: 2000 },
          stageSessions: { connecting: 0, live: 3, backoff: 0, noMedia: 0 },
        },
      ],
    },
  },
)

export const StatsHistory = t.Object(
  {
    intervalMs: t.Integer({ description: 'a sample this often (10 s)' }),
    windowMs: t.Integer({ description: 'samples older than this are dropped (an hour)' }),
    now: IsoTime,
    since: t.Nullable(IsoTime, {
      description: 'the oldest sample: less than an hour ago while this instance has run less than an hour (null: no sample yet)',
    }),
    samples: t.Array(
      t.Object({
        at: IsoTime,
        totalViewers: t.Integer(),
        openSeats: t.Integer({ description: 'seats on the stages taking viewers' }),
        activeStages: t.Integer(),
      }),
      { description: 'oldest first; a gap where a read of the fleet failed' },
    ),
  },
  {
    example: {
      intervalMs: 10_000,
      windowMs: 3_600_000,
      now: '2026-11-23T12:00:00.000Z',
      since: '2026-11-23T11:00:00.000Z',
      samples: [
        { at: '2026-11-23T11:00:00.000Z', totalViewers: 10, openSeats: 50, activeStages: 1 },
        { at: '2026-11-23T11:00:10.000Z', totalViewers: 12, openSeats: 50, activeStages: 1 },
      ],
    },
  },
)
