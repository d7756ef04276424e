import { AppError } from '../errors'
import { randomAlphanumeric } from '../ids'
import { type LocalStage, type LocalStageRegistry, MemoryLocalStages } from '../store/local-stages'
import { IVS_GLOBAL_EVENTS_URL } from './endpoints'
import type { ProviderStage, Replica, StageProvider } from './types'

export const LOCAL_ACCOUNT_ID = '000000000000'

/** What every replication call of a local provider throws: there is nothing to copy, and no IVS to copy it. */
export function localReplicationRefused(): AppError {
  return new AppError('VALIDATION_ERROR', 'participant replication needs IVS: local stages carry no media', { reason: 'local-stages' })
}

export interface LocalStageOptions {
  region: string
  /**
   * The WHIP endpoint its stages report (LOCAL_WHIP_URL), or null: local stages exist at no media
   * service, so without one they carry no media and report none.
   */
  whipUrl: string | null
  /**
   * Where the stages are kept: the store's registry, so every instance sharing the store sees one
   * set and a restart finds them (backends.ts). Default: this process only.
   */
  stages?: LocalStageRegistry
}

/**
 * Stages without AWS, shaped like IVS's, for laptops, demos and tests. They are names in a registry,
 * not rooms of a media service: the ARNs are of no AWS account, and media reaches them only when
 * `whipUrl` names a WHIP endpoint that takes it.
 */
export class LocalStageProvider implements StageProvider {
  readonly kind = 'local' as const
  private readonly stages: LocalStageRegistry

  constructor(private readonly options: LocalStageOptions) {
    this.stages = options.stages ?? new MemoryLocalStages()
  }

  async createStage(input: { name: string; tags: Record<string, string> }): Promise<ProviderStage> {
    const arn = `arn:aws:ivs:${this.options.region}:${LOCAL_ACCOUNT_ID}:stage/${randomAlphanumeric(12)}`
    const stage: LocalStage = { arn, name: input.name, tags: { ...input.tags } }
    await this.stages.put(stage)
    return this.shaped(stage)
  }

  async getStage(arn: string): Promise<ProviderStage | null> {
    const stage = await this.stages.get(arn)
    return stage ? this.shaped(stage) : null
  }

  async updateStage(arn: string, input: { name: string }): Promise<ProviderStage> {
    const stage = await this.stages.rename(arn, input.name)
    if (!stage) throw new AppError('NOT_FOUND', `stage ${arn} not found`)
    return this.shaped(stage)
  }

  async deleteStage(arn: string): Promise<void> {
    await this.stages.delete(arn)
  }

  async listStages(filter: { tags?: Record<string, string> } = {}): Promise<ProviderStage[]> {
    const wanted = Object.entries(filter.tags ?? {})
    return (await this.stages.list()).filter((s) => wanted.every(([k, v]) => s.tags[k] === v)).map((s) => this.shaped(s))
  }

  async ping(): Promise<void> {}

  /** Local stages carry no media: who publishes is only known from the relays. */
  async publishingParticipants(): Promise<null> {
    return null
  }

  /** Nobody joins a local stage: who publishes is only known from the relays. */
  async participants(): Promise<null> {
    return null
  }

  async startReplication(): Promise<void> {
    throw localReplicationRefused()
  }

  async stopReplication(): Promise<void> {
    throw localReplicationRefused()
  }

  async listReplicas(): Promise<Replica[]> {
    throw localReplicationRefused()
  }

  /** The endpoints are this provider's (LOCAL_WHIP_URL as configured now), not kept with the stage. */
  private shaped(stage: LocalStage): ProviderStage {
    return { ...stage, endpoints: { whip: this.options.whipUrl, events: IVS_GLOBAL_EVENTS_URL } }
  }
}
