import { AppError } from '../errors'
import { randomAlphanumeric } from '../ids'
import { IVS_GLOBAL_EVENTS_URL } from './endpoints'
import type { ProviderStage, StageProvider } from './types'

export const LOCAL_ACCOUNT_ID = '000000000000'

/** Stages that exist only in this process, shaped like IVS's, for laptops, demos and tests. */
export class LocalStageProvider implements StageProvider {
  readonly kind = 'local' as const
  private readonly stages = new Map<string, ProviderStage>()

  constructor(private readonly options: { region: string; whipUrl: string }) {}

  async createStage(input: { name: string; tags: Record<string, string> }): Promise<ProviderStage> {
    const arn = `arn:aws:ivs:${this.options.region}:${LOCAL_ACCOUNT_ID}:stage/${randomAlphanumeric(12)}`
    const stage: ProviderStage = {
      arn,
      name: input.name,
      tags: { ...input.tags },
      endpoints: { whip: this.options.whipUrl, events: IVS_GLOBAL_EVENTS_URL },
    }
    this.stages.set(arn, stage)
    return structuredClone(stage)
  }

  async getStage(arn: string): Promise<ProviderStage | null> {
    const stage = this.stages.get(arn)
    return stage ? structuredClone(stage) : null
  }

  async updateStage(arn: string, input: { name: string }): Promise<ProviderStage> {
    const stage = this.stages.get(arn)
    if (!stage) throw new AppError('NOT_FOUND', `stage ${arn} not found`)
    stage.name = input.name
    return structuredClone(stage)
  }

  async deleteStage(arn: string): Promise<void> {
    this.stages.delete(arn)
  }

  async listStages(filter: { tags?: Record<string, string> } = {}): Promise<ProviderStage[]> {
    const wanted = Object.entries(filter.tags ?? {})
    return [...this.stages.values()].filter((s) => wanted.every(([k, v]) => s.tags[k] === v)).map((s) => structuredClone(s))
  }

  async ping(): Promise<void> {}

  /** Local stages carry no media: who publishes is only known from the relays. */
  async publishingParticipants(): Promise<null> {
    return null
  }
}
