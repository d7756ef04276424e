import type { Clock } from '../clock'
import type { FanoutRecord, StageFeed } from '../store/fanout'
import type { PublisherState, RelayRecord, StageStatus, StageView, Store } from '../store/types'
import { admitNewViewer, STAGE_QUOTA_NOTICE, type StageQuotaNotice } from './admission'
import type { AdmissionLimits, FanoutMode } from './settings'

/** How the stages get their media: the mode, and each stage's feed as the fleet last saw it. */
export interface FanoutView {
  mode: FanoutMode
  feeds: Record<string, StageFeed>
  /** Participant replications running. */
  replications: number
}

const NO_FANOUT: FanoutView = { mode: 'relay', feeds: {}, replications: 0 }

export interface FleetStats {
  totalViewers: number
  activeStages: number
  drainingStages: number
  publisherActive: boolean
  /** New viewers would get 503 CAPACITY_EXHAUSTED now. */
  capacityExhausted: boolean
  /** Why (MAX_STAGES, the account's stage or subscription quota: fleet/admission.ts), or null. */
  capacityReason: string | null
  /** FANOUT_MODE: relay, replicate or hybrid. */
  fanoutMode: FanoutMode
  /** Participant replications running (replicate and hybrid). */
  activeReplications: number
  stages: { stageArn: string; viewers: number; capacity: number; status: StageStatus; isMaster: boolean; feed: StageFeed | null }[]
}

/** The numbers every stats endpoint and stats_update message are cut from. */
export function computeStats(
  stages: StageView[],
  publisher: PublisherState,
  limits: AdmissionLimits,
  stageQuota: StageQuotaNotice | null = null,
  fanout: FanoutView = NO_FANOUT,
): FleetStats {
  const admission = admitNewViewer({ stages, stageQuota }, limits)
  const reason = admission.ok ? null : admission.refusal.message
  return {
    totalViewers: stages.reduce((sum, s) => sum + s.viewerCount, 0),
    activeStages: stages.filter((s) => s.status === 'active').length,
    drainingStages: stages.filter((s) => s.status === 'draining').length,
    publisherActive: publisher.active,
    capacityExhausted: reason !== null,
    capacityReason: reason,
    fanoutMode: fanout.mode,
    activeReplications: fanout.replications,
    stages: stages.map((s) => ({
      stageArn: s.arn,
      viewers: s.viewerCount,
      capacity: s.capacity,
      status: s.status,
      isMaster: s.isMaster,
      feed: fanout.feeds[s.arn] ?? null,
    })),
  }
}

/**
 * The feeds as the store has them: in relay mode the stages an online relay reports publishing into
 * (its heartbeat's stage list); otherwise the leader's last view (store.fanout), when it is of this mode.
 */
export function fanoutView(mode: FanoutMode, relays: readonly RelayRecord[], record: FanoutRecord | null): FanoutView {
  if (mode === 'relay') {
    const feeds: Record<string, StageFeed> = {}
    for (const r of relays) if (r.offlineSince === null) for (const arn of r.stageArns) feeds[arn] = { kind: 'relay' }
    return { mode, feeds, replications: 0 }
  }
  if (record?.mode !== mode) return { mode, feeds: {}, replications: 0 }
  return { mode, feeds: record.feeds, replications: record.replications.length }
}

export const utilisation = (viewers: number, seats: number) => (seats === 0 ? 0 : Math.round((viewers / seats) * 10_000) / 10_000)

/** Reads the fleet's numbers from the store. */
export class StatsReader {
  constructor(
    private readonly deps: { store: Store; clock: Clock },
    /** MAX_STAGES is also what /api/stats/stages reports. */
    readonly limits: AdmissionLimits,
    private readonly mode: FanoutMode = 'relay',
  ) {}

  async read(): Promise<FleetStats> {
    const { store, clock } = this.deps
    const [stages, publisher, stageQuota, relays, record] = await Promise.all([
      store.listStages(),
      store.getPublisherState(),
      store.limits.getNotice(STAGE_QUOTA_NOTICE, clock.now()),
      this.mode === 'relay' ? store.listRelays() : [],
      this.mode === 'relay' ? null : store.fanout.get(),
    ])
    return computeStats(stages, publisher, this.limits, stageQuota, fanoutView(this.mode, relays, record))
  }
}
