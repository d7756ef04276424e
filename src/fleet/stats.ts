import type { PublisherState, StageView, Store } from '../store/types'

export interface FleetStats {
  totalViewers: number
  activeStages: number
  drainingStages: number
  publisherActive: boolean
  stages: { stageArn: string; viewers: number; capacity: number; status: StageView['status']; isMaster: boolean }[]
}

/** The numbers every stats endpoint and stats_update message are cut from. */
export function computeStats(stages: StageView[], publisher: PublisherState, capacity: number): FleetStats {
  return {
    totalViewers: stages.reduce((sum, s) => sum + s.viewerCount, 0),
    activeStages: stages.filter((s) => s.status === 'active').length,
    drainingStages: stages.filter((s) => s.status === 'draining').length,
    publisherActive: publisher.active,
    stages: stages.map((s) => ({ stageArn: s.arn, viewers: s.viewerCount, capacity, status: s.status, isMaster: s.isMaster })),
  }
}

export const utilisation = (viewers: number, seats: number) => (seats === 0 ? 0 : Math.round((viewers / seats) * 10_000) / 10_000)

/** Reads the fleet's numbers from the store. */
export class StatsReader {
  constructor(
    private readonly store: Store,
    private readonly stageCapacity: number,
  ) {}

  async read(): Promise<FleetStats> {
    const [stages, publisher] = await Promise.all([this.store.listStages(), this.store.getPublisherState()])
    return computeStats(stages, publisher, this.stageCapacity)
  }
}
