/**
 * The fan-out as the leader last saw it (FANOUT_MODE replicate and hybrid, DESIGN §7): how each stage
 * gets its media, the participant replications IVS runs, and hybrid mode's origin assignment. One
 * writer (the leader, each round), read by every instance's stats and by the next leader, which
 * keeps the assignment stable. The truth stays at IVS: a leader that finds nothing here rebuilds it
 * from IVS's replicas. Each method is atomic on its own.
 */

/** How a stage gets its media: the relay publishes into it, a replica of an origin stage's participant, or the broadcaster publishes straight into it. */
export interface StageFeed {
  kind: 'relay' | 'replica' | 'direct'
  /** For a replica: the stage it is copied from. */
  originStageArn?: string
}

/** One participant replication as IVS listed it (ACTIVE). */
export interface ReplicationRecord {
  sourceStageArn: string
  destinationStageArn: string
  participantId: string
}

export interface FanoutRecord {
  mode: 'relay' | 'replicate' | 'hybrid'
  /** Hybrid: the stages the relay publishes into (the master first); replicate: the master. */
  origins: string[]
  /** Every other stage: the origin whose participant is replicated into it. */
  originOf: Record<string, string>
  /** Each stage's feed as IVS last showed it; a stage not here has none. */
  feeds: Record<string, StageFeed>
  replications: ReplicationRecord[]
  updatedAt: number
}

export interface FanoutRegistry {
  /** null when nothing was written yet (or the store lost it). */
  get(): Promise<FanoutRecord | null>
  /** Replaces the record. */
  put(record: FanoutRecord): Promise<void>
}

/** The record of one process: the memory store's. */
export class MemoryFanout implements FanoutRegistry {
  private record: string | null = null

  async get(): Promise<FanoutRecord | null> {
    return this.record === null ? null : parseFanout(this.record)
  }

  async put(record: FanoutRecord): Promise<void> {
    this.record = JSON.stringify(record)
  }
}

/** On Redis: one string key (`P fanout`), read and written whole. */
export class KeyFanout implements FanoutRegistry {
  constructor(private readonly key: { get(): Promise<string | null>; set(value: string): Promise<unknown> }) {}

  async get(): Promise<FanoutRecord | null> {
    const raw = await this.key.get()
    return raw === null ? null : parseFanout(raw)
  }

  async put(record: FanoutRecord): Promise<void> {
    await this.key.set(JSON.stringify(record))
  }
}

function parseFanout(raw: string): FanoutRecord {
  const r = JSON.parse(raw) as FanoutRecord
  return { mode: r.mode, origins: r.origins, originOf: r.originOf, feeds: r.feeds, replications: r.replications, updatedAt: r.updatedAt }
}
