import type { StageSessionState } from '../egress/stage-session'
import type { RepairCounts } from '../ingest/loss-repair'

/**
 * What a heartbeat tells serve about the relay's media (beside the original media server's fields):
 * the publisher's ingest and the stage sessions by state, for the operator's dashboard. Additive:
 * serve takes heartbeats without them (the original media server's), and these fields decide nothing.
 */
export interface MediaReport {
  /** The current publisher session's video ingest; null while no publisher is connected. */
  ingest: IngestReport | null
  stageSessions: StageSessionCounts
}

export interface IngestReport {
  /** Unique video packets received (this publisher session). */
  videoPackets: number
  /** Video packets found missing (gaps in the sequence numbers), before any repair. */
  missing: number
  /** Missing packets that came on retransmission while still wanted. */
  repaired: number
  /** Missing packets given up on. */
  unrepaired: number
  /** missing / expected (0..1, 4 decimals): the uplink's loss before repair; expected = received + never received. */
  lossRatio: number
  /** The publisher's keyframe interval, measured (null before two keyframes). */
  keyframeIntervalMs: number | null
}

export interface StageSessionCounts {
  connecting: number
  live: number
  backoff: number
  noMedia: number
}

/** What the fan-out offers for the report (Fanout has both). */
export interface MediaSource {
  readonly publisherSession: { stats(): { keyframeIntervalMs: number | null; ingest: RepairCounts } } | null
  stageSnapshots(): readonly { state: StageSessionState }[]
}

/** The ingest figures of one publisher session's repair counts. */
export function ingestReport(counts: RepairCounts, keyframeIntervalMs: number | null): IngestReport {
  // Never received: missing, less those that came after all (repaired while wanted, or late after being given up on).
  const expected = counts.received + counts.missing - counts.repaired - counts.late
  return {
    videoPackets: counts.received,
    missing: counts.missing,
    repaired: counts.repaired,
    unrepaired: counts.unrepaired,
    lossRatio: expected > 0 ? Math.round((counts.missing / expected) * 10_000) / 10_000 : 0,
    keyframeIntervalMs,
  }
}

export function mediaReport(source: MediaSource): MediaReport {
  const stats = source.publisherSession?.stats() ?? null
  const stageSessions: StageSessionCounts = { connecting: 0, live: 0, backoff: 0, noMedia: 0 }
  for (const { state } of source.stageSnapshots()) {
    if (state === 'no-media') stageSessions.noMedia++
    else if (state !== 'stopped') stageSessions[state]++
  }
  return { ingest: stats ? ingestReport(stats.ingest, stats.keyframeIntervalMs) : null, stageSessions }
}
