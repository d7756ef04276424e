import type { Clock } from '../clock'
import type { PublisherState, StageStatus, StageView, Store } from '../store/types'
import { admitNewViewer, STAGE_QUOTA_NOTICE, type StageQuotaNotice } from './admission'
import type { AdmissionLimits } from './settings'

export interface FleetStats {
  totalViewers: number
  activeStages: number
  drainingStages: number
  publisherActive: boolean
  /** New viewers would get 503 CAPACITY_EXHAUSTED now. */
  capacityExhausted: boolean
  /** Why (MAX_STAGES, the account's stage or subscription quota: fleet/admission.ts), or null. */
  capacityReason: string | null
  stages: { stageArn: string; viewers: number; capacity: number; status: StageStatus; isMaster: boolean }[]
}

/** The numbers every stats endpoint and stats_update message are cut from. */
export function computeStats(stages: StageView[], publisher: PublisherState, limits: AdmissionLimits, stageQuota: StageQuotaNotice | null = null): FleetStats {
  const admission = admitNewViewer({ stages, stageQuota }, limits)
  const reason = admission.ok ? null : admission.refusal.message
  return {
    totalViewers: stages.reduce((sum, s) => sum + s.viewerCount, 0),
    activeStages: stages.filter((s) => s.status === 'active').length,
    drainingStages: stages.filter((s) => s.status === 'draining').length,
    publisherActive: publisher.active,
    capacityExhausted: reason !== null,
    capacityReason: reason,
    stages: stages.map((s) => ({ stageArn: s.arn, viewers: s.viewerCount, capacity: s.capacity, status: s.status, isMaster: s.isMaster })),
  }
}

export const utilisation = (viewers: number, seats: number) => (seats === 0 ? 0 : Math.round((viewers / seats) * 10_000) / 10_000)

/** Reads the fleet's numbers from the store. */
export class StatsReader {
  constructor(
    private readonly deps: { store: Store; clock: Clock },
    /** MAX_STAGES is also what /api/stats/stages reports. */
    readonly limits: AdmissionLimits,
  ) {}

  async read(): Promise<FleetStats> {
    const { store, clock } = this.deps
    const [stages, publisher, stageQuota] = await Promise.all([
      store.listStages(),
      store.getPublisherState(),
      store.limits.getNotice(STAGE_QUOTA_NOTICE, clock.now()),
    ])
    return computeStats(stages, publisher, this.limits, stageQuota)
  }
}
