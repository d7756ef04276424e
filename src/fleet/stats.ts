import type { Clock } from '../clock'
import { hasFreeSeat } from '../store/fill-first'
import type { PublisherState, StageView, Store } from '../store/types'
import { CAPACITY_NOTICE } from './stages'

export interface FleetStats {
  totalViewers: number
  activeStages: number
  drainingStages: number
  publisherActive: boolean
  /** New viewers would get 503 CAPACITY_EXHAUSTED now. */
  capacityExhausted: boolean
  /** Why (MAX_STAGES, the account's stage or subscription quota), or null. */
  capacityReason: string | null
  stages: { stageArn: string; viewers: number; capacity: number; status: StageView['status']; isMaster: boolean }[]
}

export interface CapacityLimits {
  stageCapacity: number
  maxStages: number
  maxSubscriptions: number
}

/** Why no new viewer can be seated, or null: an IVS quota notice, the subscription quota, or a full fleet at MAX_STAGES. */
export function capacityReason(stages: StageView[], limits: CapacityLimits, notice: string | null): string | null {
  const total = stages.reduce((sum, s) => sum + s.viewerCount, 0)
  const seatFree = stages.some((s) => hasFreeSeat(s, limits.stageCapacity))
  if (total >= limits.maxSubscriptions)
    return `the fleet holds ${total} viewers, the account's concurrent-subscription quota (IVS_MAX_SUBSCRIPTIONS ${limits.maxSubscriptions})`
  if (!seatFree && notice) return notice
  if (!seatFree && stages.length >= limits.maxStages) return `every stage is full and MAX_STAGES (${limits.maxStages}) is reached`
  return null
}

/** The numbers every stats endpoint and stats_update message are cut from. */
export function computeStats(stages: StageView[], publisher: PublisherState, limits: CapacityLimits, notice: string | null = null): FleetStats {
  const reason = capacityReason(stages, limits, notice)
  return {
    totalViewers: stages.reduce((sum, s) => sum + s.viewerCount, 0),
    activeStages: stages.filter((s) => s.status === 'active').length,
    drainingStages: stages.filter((s) => s.status === 'draining').length,
    publisherActive: publisher.active,
    capacityExhausted: reason !== null,
    capacityReason: reason,
    stages: stages.map((s) => ({ stageArn: s.arn, viewers: s.viewerCount, capacity: limits.stageCapacity, status: s.status, isMaster: s.isMaster })),
  }
}

export const utilisation = (viewers: number, seats: number) => (seats === 0 ? 0 : Math.round((viewers / seats) * 10_000) / 10_000)

/** Reads the fleet's numbers from the store. */
export class StatsReader {
  constructor(
    private readonly deps: { store: Store; clock: Clock },
    private readonly limits: CapacityLimits,
  ) {}

  async read(): Promise<FleetStats> {
    const { store, clock } = this.deps
    const [stages, publisher, notice] = await Promise.all([store.listStages(), store.getPublisherState(), store.limits.getNotice(CAPACITY_NOTICE, clock.now())])
    return computeStats(stages, publisher, this.limits, notice?.value ?? null)
  }
}
