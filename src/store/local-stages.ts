/**
 * The local stage provider's own stages (src/ivs/local.ts: stages without AWS), kept in the store so
 * that every instance sharing it sees one set and a restart finds them. These are the stages
 * themselves, as IVS would hold them, not the fleet's records of them (StageRecord): the fleet
 * reads them through the provider, as it reads IVS. Each method is atomic on its own.
 */
export interface LocalStage {
  arn: string
  name: string
  tags: Record<string, string>
}

export interface LocalStageRegistry {
  /** Adds the stage, or replaces the one with its ARN. */
  put(stage: LocalStage): Promise<void>
  /** null when there is no such stage. */
  get(arn: string): Promise<LocalStage | null>
  /** The stage renamed, or null when there is no such stage (it is not created). */
  rename(arn: string, name: string): Promise<LocalStage | null>
  /** Deleting a stage that is not there is not an error. */
  delete(arn: string): Promise<void>
  /** Every stage, in no particular order. */
  list(): Promise<LocalStage[]>
}

/** The registry of one process: the memory store's, and what a provider without a store uses. */
export class MemoryLocalStages implements LocalStageRegistry {
  private readonly stages = new Map<string, LocalStage>()

  async put(stage: LocalStage): Promise<void> {
    this.stages.set(stage.arn, copy(stage))
  }

  async get(arn: string): Promise<LocalStage | null> {
    const stage = this.stages.get(arn)
    return stage ? copy(stage) : null
  }

  async rename(arn: string, name: string): Promise<LocalStage | null> {
    const stage = this.stages.get(arn)
    if (!stage) return null
    stage.name = name
    return copy(stage)
  }

  async delete(arn: string): Promise<void> {
    this.stages.delete(arn)
  }

  async list(): Promise<LocalStage[]> {
    return [...this.stages.values()].map(copy)
  }
}

function copy(stage: LocalStage): LocalStage {
  return { arn: stage.arn, name: stage.name, tags: { ...stage.tags } }
}
