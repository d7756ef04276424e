import type { FanoutRegistry } from './fanout'
import type { Limits } from './limits'
import type { LocalStageRegistry } from './local-stages'

/** A stage takes new viewers while active; a draining one keeps its viewers until they rejoin elsewhere. */
export const STAGE_STATUSES = ['active', 'draining'] as const
export type StageStatus = (typeof STAGE_STATUSES)[number]

/** How long finished sessions and watch totals are kept after a viewer's last session (WATCH_HISTORY_TTL_MS). */
export const DEFAULT_WATCH_HISTORY_TTL_MS = 7 * 24 * 3600_000
/** Viewers per stage (STAGE_CAPACITY) when a store is opened without one. */
export const DEFAULT_STAGE_CAPACITY = 50

/** What every store is opened with besides its connection. */
export interface StoreOptions {
  /** Viewers per stage (STAGE_CAPACITY): the store seats no more on a stage, and each StageView says so. */
  stageCapacity?: number
  /** How long a viewer's finished sessions and watch total are kept after their last session. */
  historyRetentionMs?: number
}

export interface StageEndpoints {
  /** Where media is published into the stage; null for a stage that carries no media (a local stage without LOCAL_WHIP_URL). */
  whip: string | null
  events: string
}

/** What the fleet knows about one stage; viewer counts live beside it in the store. */
export interface StageRecord {
  arn: string
  name: string
  isMaster: boolean
  status: StageStatus
  /** Assignment order: lower fills first. The master is 0. */
  seq: number
  createdAt: number
  drainingSince: number | null
  tags: Record<string, string>
  endpoints: StageEndpoints
}

/**
 * A stage as the store reads it: the record, its present viewers, and its seats. The capacity is the
 * store's (it is opened with STAGE_CAPACITY), not stored with the record, so a changed
 * STAGE_CAPACITY applies to every stage at the next start.
 */
export interface StageView extends StageRecord {
  viewerCount: number
  capacity: number
}

export interface Presence {
  userId: string
  participantId: string
  stageArn: string
  joinedAt: number
  lastHeartbeatAt: number
}

export interface WatchSession {
  stageArn: string
  participantId: string
  joinedAt: number
  leftAt: number | null
  durationMs: number
}

export type AssignResult =
  /** kept: the viewer already held this seat (only its participant id changed). */
  | { ok: true; stage: StageView; presence: Presence; kept: boolean }
  /** full: no stage has a free seat; quota: the fleet already holds `maxViewers`. */
  | { ok: false; reason: 'full' | 'quota' }

export interface AssignRequest {
  userId: string
  participantId: string
  now: number
  /** Stages the viewer must not be placed on (e.g. the one it is rejoining from). */
  exclude?: string[]
  /** A new viewer is refused once the whole fleet holds this many (the account's subscription quota). */
  maxViewers?: number
}

export interface HeartbeatEntry {
  userId: string
  stageArn: string
}

/** ok: refreshed; draining: refreshed but the viewer must rejoin; unknown: not present there. */
export type HeartbeatOutcome = 'ok' | 'draining' | 'unknown'

export interface ViewerPage {
  viewers: Presence[]
  nextCursor: string | null
}

export interface ViewerDuration {
  userId: string
  totalMs: number
  sessions: WatchSession[]
}

/** What a relay last reported (its heartbeat), kept apart from its registration. */
export interface RelayBeat {
  publisherActive: boolean
  /** How many stages it publishes to (the original media server sends a count). */
  connectedStages: number
  /** Which ones, when it sends the list. */
  stageArns: string[]
  /**
   * When its current publisher connected (ms, serve's clock); null without one; absent when the relay
   * does not say (the original media server). What the feeding relay is decided by (fleet/feeding.ts).
   */
  publisherSince?: number | null
  lastHeartbeatAt: number
  /** Set once the relay was found silent for too long; cleared by its next heartbeat. */
  offlineSince: number | null
  /** Its publisher's video ingest as it last reported (null: no publisher; absent: the relay does not say). */
  ingest?: RelayIngest | null
  /** Its stage sessions by state as it last reported (absent: the relay does not say). */
  stageSessions?: StageSessionCounts
}

/** A relay's report of its publisher's video ingest (counts of this publisher session). */
export interface RelayIngest {
  videoPackets: number
  missing: number
  repaired: number
  unrepaired: number
  /** missing / expected, 0..1. */
  lossRatio: number
  keyframeIntervalMs: number | null
}

export interface StageSessionCounts {
  connecting: number
  live: number
  backoff: number
  noMedia: number
}

export interface RelayRecord extends RelayBeat {
  serverId: string
  ipAddress: string
  port: number
  registeredAt: number
}

export interface PublisherState {
  active: boolean
  updatedAt: number | null
  serverId: string | null
  /** Who said so: a relay's heartbeats, or IVS's participant list of the master stage (no relay online). */
  source?: 'relay' | 'ivs'
}

export interface FleetEvent {
  type: string
  data: Record<string, unknown>
}

export interface StoredEvent extends FleetEvent {
  id: string
}

/**
 * Domain-level operations on shared fleet state. Each method is atomic on its own:
 * a Redis implementation makes each one Lua script or one pipeline, so callers never
 * read-modify-write across calls.
 */
export interface Store {
  readonly kind: 'memory' | 'upstash' | 'redis'
  /** True when `readEvents` can wait for new events (a blocking read) instead of being polled. */
  readonly blockingReads: boolean
  /** Which store this is and where, for logs and /health (never a secret). */
  describe(): string
  ping(): Promise<void>
  /** Releases connections; the store is not used afterwards. */
  close(): Promise<void>
  /** Fleet-wide counting: the IVS quota gate, API rate counters, notices. */
  readonly limits: Limits
  /** The local stage provider's stages (no AWS), one set for every instance sharing the store. */
  readonly localStages: LocalStageRegistry
  /** The leader's last view of the fan-out (feeds, replications, hybrid origins), for every instance. */
  readonly fanout: FanoutRegistry

  /** Adds a stage unless `maxStages` stages already exist; returns false when full. */
  addStage(stage: StageRecord, maxStages: number): Promise<boolean>
  getStage(arn: string): Promise<StageView | null>
  listStages(): Promise<StageView[]>
  updateStage(arn: string, patch: Partial<Pick<StageRecord, 'name' | 'status' | 'drainingSince' | 'endpoints'>>): Promise<StageView | null>
  /** Removes the stage and closes every presence on it (watch time recorded). */
  removeStage(arn: string, now: number): Promise<Presence[] | null>
  nextStageSeq(): Promise<number>

  /**
   * Places the viewer by the fill-first rule (store/fill-first.ts), never beyond the stage's
   * capacity, and registers presence.
   * A viewer already present on an active, non-excluded stage keeps its seat (new participant id).
   * A viewer present elsewhere is moved: the old session is closed.
   */
  assignViewer(request: AssignRequest): Promise<AssignResult>
  /**
   * Records a new participant id on the viewer's seat on `stageArn` (an issuer that picks its own
   * id), never seating anyone; null, and nothing changed, when the viewer is not on that stage.
   */
  setParticipantId(userId: string, stageArn: string, participantId: string): Promise<Presence | null>
  heartbeat(entries: HeartbeatEntry[], now: number): Promise<HeartbeatOutcome[]>
  /** Returns the finished session, or null when the viewer was not present on that stage. */
  leaveViewer(userId: string, stageArn: string, now: number): Promise<WatchSession | null>
  /** Removes viewers whose last heartbeat is older than `silentSince`; at most `limit`. */
  sweepViewers(silentSince: number, now: number, limit: number): Promise<Presence[]>
  findViewer(userId: string): Promise<Presence | null>
  listViewers(stageArn: string, limit: number, cursor: string | null): Promise<ViewerPage>
  viewerDuration(userId: string, stageArn: string | null, now: number): Promise<ViewerDuration>

  putRelay(relay: RelayRecord): Promise<void>
  /** Records a heartbeat (and clears `offlineSince`); false when the relay is not registered. */
  heartbeatRelay(serverId: string, beat: Omit<RelayBeat, 'offlineSince'>): Promise<boolean>
  /** Marks the relay offline if its last heartbeat is older than `silentSince` and it is not already; true when this call did. */
  markRelayOffline(serverId: string, silentSince: number, now: number): Promise<boolean>
  listRelays(): Promise<RelayRecord[]>
  getPublisherState(): Promise<PublisherState>
  /** Returns the previous state so callers can tell whether it changed. */
  setPublisherState(state: PublisherState): Promise<PublisherState>

  /** Acquires or renews the lease; true when `holder` holds it afterwards. */
  acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>
  releaseLease(name: string, holder: string): Promise<void>

  /**
   * The fleet's secret `name` (e.g. the viewer-session signing key): `candidate` is kept when the fleet
   * has none yet (set-if-absent, atomic), and the kept one is returned, so every instance sharing the
   * store ends up with the same value however many race to create it. Kept until the store loses it.
   */
  sharedSecret(name: string, candidate: string): Promise<string>

  appendEvent(event: FleetEvent): Promise<string>
  /**
   * Events after `afterId` (exclusive; null = from the start of the retained window), oldest first.
   * With `waitMs` and `blockingReads`, waits up to that long for the first one.
   */
  readEvents(afterId: string | null, limit: number, waitMs?: number): Promise<StoredEvent[]>
  lastEventId(): Promise<string | null>
}
