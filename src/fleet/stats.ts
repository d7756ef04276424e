import type { Clock } from '../clock'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { FanoutRecord, StageFeed } from '../store/fanout'
import { DEFAULT_STAGE_CAPACITY, type PublisherState, type RelayRecord, type StageStatus, type StageView, type Store } from '../store/types'
import type { Ticker } from '../ticker'
import { admitNewViewer, STAGE_QUOTA_NOTICE, type StageQuotaNotice } from './admission'
import { type IvsActivity, ivsActivity } from './ivs-activity'
import type { AdmissionLimits, FanoutMode } from './settings'
import { STATS_HISTORY, StatsHistory, type StatsHistorySettings, type StatsSample } from './stats-history'

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
  /** Seats used against what the fleet can open and what the account allows. */
  seats: SeatStats
}

export interface SeatStats {
  /** Present viewers: each holds a seat. */
  used: number
  /** Seats on the stages taking viewers (the capacity of the active stages). */
  open: number
  /** The most the fleet can open: maxStages × stageCapacity. */
  ceiling: number
  /** MAX_STAGES, or FANOUT_MODE=replicate's 6 when lower. */
  maxStages: number
  /** STAGE_CAPACITY: seats on each new stage. */
  stageCapacity: number
  /** IVS_MAX_SUBSCRIPTIONS: new viewers are refused past it. */
  subscriptionQuota: number
}

/** No IVS API (a reader not told of one). */
const NO_IVS_ACTIVITY: IvsActivity = {
  provider: 'local',
  since: new Date(0).toISOString(),
  totals: { attempts: 0, ok: 0, throttled: 0, errors: 0, gateWaitMs: 0 },
  operations: [],
}

/** The numbers every stats endpoint and stats_update message are cut from. */
export function computeStats(
  stages: StageView[],
  publisher: PublisherState,
  limits: AdmissionLimits,
  stageQuota: StageQuotaNotice | null = null,
  fanout: FanoutView = NO_FANOUT,
  /** STAGE_CAPACITY, for the seat ceiling. */
  stageCapacity = DEFAULT_STAGE_CAPACITY,
): FleetStats {
  const admission = admitNewViewer({ stages, stageQuota }, limits)
  const reason = admission.ok ? null : admission.refusal.message
  const totalViewers = stages.reduce((sum, s) => sum + s.viewerCount, 0)
  return {
    totalViewers,
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
    seats: {
      used: totalViewers,
      open: stages.reduce((sum, s) => (s.status === 'active' ? sum + s.capacity : sum), 0),
      ceiling: limits.maxStages * stageCapacity,
      maxStages: limits.maxStages,
      stageCapacity,
      subscriptionQuota: limits.maxSubscriptions,
    },
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

/**
 * Reads the fleet's numbers from the store; for the dashboard also keeps the last hour of them
 * (sampled every 10 s from start(), whether anyone watches or not) and reports this instance's IVS calls.
 */
export class StatsReader {
  private readonly sampler: StatsHistory | null

  constructor(
    private readonly deps: {
      store: Store
      clock: Clock
      /** With both, the reader keeps the last hour's figures (StatsHistory) from start() to stop(). */
      ticker?: Ticker
      logger?: Logger
      /** This instance's IVS calls: its counters, its stage provider, its start (default: none). */
      ivs?: { counters: Counters; provider: IvsActivity['provider']; since: number }
    },
    /** MAX_STAGES is also what /api/stats/stages reports. */
    readonly limits: AdmissionLimits,
    private readonly mode: FanoutMode = 'relay',
    /** STAGE_CAPACITY, for the seat ceiling. */
    private readonly stageCapacity = DEFAULT_STAGE_CAPACITY,
  ) {
    const { clock, ticker, logger } = deps
    this.sampler = ticker && logger ? new StatsHistory({ read: () => this.read(), clock, ticker, logger }) : null
  }

  /** The last hour's sampling (with a ticker and a logger). */
  start(): void {
    this.sampler?.start()
  }

  async stop(): Promise<void> {
    await this.sampler?.stop()
  }

  async read(): Promise<FleetStats> {
    const { store, clock } = this.deps
    const [stages, publisher, stageQuota, relays, record] = await Promise.all([
      store.listStages(),
      store.getPublisherState(),
      store.limits.getNotice(STAGE_QUOTA_NOTICE, clock.now()),
      this.mode === 'relay' ? store.listRelays() : [],
      this.mode === 'relay' ? null : store.fanout.get(),
    ])
    return computeStats(stages, publisher, this.limits, stageQuota, fanoutView(this.mode, relays, record), this.stageCapacity)
  }

  /**
   * This instance's IVS API calls since it started (GET /api/stats/ivs): per instance, so not part
   * of the fleet's figures, which every instance reports alike.
   */
  ivs(): IvsActivity {
    const ivs = this.deps.ivs
    return ivs ? ivsActivity(ivs.counters.snapshot(), ivs.provider, new Date(ivs.since).toISOString()) : NO_IVS_ACTIVITY
  }

  /** The samples this instance kept of the last hour (GET /api/stats/history), oldest first; none without a history. */
  history(): { settings: StatsHistorySettings; now: number; samples: StatsSample[] } {
    const now = this.deps.clock.now()
    const history = this.sampler
    return { settings: history?.settings ?? STATS_HISTORY, now, samples: history?.samples(now) ?? [] }
  }
}
