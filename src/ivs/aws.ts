import { CreateStageCommand, DeleteStageCommand, GetStageCommand, ListStagesCommand, type Stage, UpdateStageCommand } from '@aws-sdk/client-ivs-realtime'
import { AppError } from '../errors'
import type { IvsRealTimeApi } from './aws-api'
import { AwsParticipants } from './aws-replication'
import { IVS_GLOBAL_EVENTS_URL, IVS_GLOBAL_WHIP_URL } from './endpoints'
import type { ProviderStage, Replica, ReplicationRequest, StageParticipant, StageProvider } from './types'

/** What ListStages returns per stage: no endpoints (those need a GetStage each). */
export interface StageSummary {
  arn: string
  name: string
  tags: Record<string, string>
}

export interface AwsStageProviderOptions {
  /** ListStages and ListParticipants page size (IVS allows 1–100; ListParticipantReplicas takes at most 50). */
  pageSize?: number
}

const hasTags = (tags: Record<string, string>, wanted: Record<string, string>) => Object.entries(wanted).every(([key, value]) => tags[key] === value)

function toProviderStage(operation: string, stage: Stage | undefined): ProviderStage {
  if (!stage?.arn) throw new AppError('UPSTREAM_UNAVAILABLE', `IVS answered ${operation} without a stage`)
  return {
    arn: stage.arn,
    name: stage.name ?? '',
    tags: { ...stage.tags },
    endpoints: {
      whip: stage.endpoints?.whip ?? IVS_GLOBAL_WHIP_URL,
      events: stage.endpoints?.events ?? IVS_GLOBAL_EVENTS_URL,
    },
  }
}

/** Stages on Amazon IVS through the ivs-realtime API. */
export class AwsStageProvider implements StageProvider {
  readonly kind = 'aws' as const
  private readonly pageSize: number
  private readonly replication: AwsParticipants

  constructor(
    private readonly api: IvsRealTimeApi,
    options: AwsStageProviderOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 100
    this.replication = new AwsParticipants(api, this.pageSize)
  }

  async createStage(input: { name: string; tags: Record<string, string> }): Promise<ProviderStage> {
    const out = await this.api.call('CreateStage', (abortSignal) =>
      this.api.client.send(new CreateStageCommand({ name: input.name, tags: input.tags }), { abortSignal }),
    )
    return toProviderStage('CreateStage', out.stage)
  }

  async getStage(arn: string): Promise<ProviderStage | null> {
    try {
      const out = await this.api.call('GetStage', (abortSignal) => this.api.client.send(new GetStageCommand({ arn }), { abortSignal }), {
        subject: `stage ${arn}`,
      })
      return toProviderStage('GetStage', out.stage)
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND') return null
      throw error
    }
  }

  async updateStage(arn: string, input: { name: string }): Promise<ProviderStage> {
    const out = await this.api.call('UpdateStage', (abortSignal) => this.api.client.send(new UpdateStageCommand({ arn, name: input.name }), { abortSignal }), {
      subject: `stage ${arn}`,
    })
    return toProviderStage('UpdateStage', out.stage)
  }

  async deleteStage(arn: string): Promise<void> {
    try {
      await this.api.call('DeleteStage', (abortSignal) => this.api.client.send(new DeleteStageCommand({ arn }), { abortSignal }), {
        subject: `stage ${arn}`,
      })
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND') return
      throw error
    }
  }

  /**
   * Every stage of the account and region (or those carrying all of `filter.tags`), with endpoints.
   * ListStages does not return endpoints, so this costs one GetStage per stage at the 5 TPS quota:
   * filter by the fleet tag when re-adopting.
   */
  async listStages(filter: { tags?: Record<string, string> } = {}): Promise<ProviderStage[]> {
    const summaries = await this.listStageSummaries()
    const wanted = filter.tags ? summaries.filter((s) => hasTags(s.tags, filter.tags!)) : summaries
    const stages: ProviderStage[] = []
    // One at a time: the GetStage pacer lets them through at the quota anyway, and a queue of
    // hundreds would exceed its maximum wait.
    for (const summary of wanted) {
      const stage = await this.getStage(summary.arn)
      if (stage) stages.push(stage)
    }
    return stages
  }

  /** Every page of ListStages. The SDK's paginateListStages is not used because it calls the client directly, bypassing pacing and retries. */
  async listStageSummaries(): Promise<StageSummary[]> {
    const summaries: StageSummary[] = []
    let nextToken: string | undefined
    do {
      const page = await this.api.call('ListStages', (abortSignal) =>
        this.api.client.send(new ListStagesCommand({ maxResults: this.pageSize, nextToken }), { abortSignal }),
      )
      for (const stage of page.stages ?? []) {
        if (stage.arn) summaries.push({ arn: stage.arn, name: stage.name ?? '', tags: { ...stage.tags } })
      }
      nextToken = page.nextToken || undefined
    } while (nextToken)
    return summaries
  }

  /** Those that published in the stage's current session: GetStage, then ListParticipants (see AwsParticipants). */
  participants(stageArn: string): Promise<StageParticipant[]> {
    return this.replication.participants(stageArn)
  }

  /**
   * Publishing participants in the stage's current session: published, CONNECTED and not a replica
   * of another stage's. The same GetStage and one ListParticipants as `participants`; 0 without a session.
   */
  async publishingParticipants(stageArn: string): Promise<number> {
    const participants = await this.participants(stageArn)
    return participants.filter((p) => p.published && p.state === 'CONNECTED' && p.replicationType !== 'REPLICA').length
  }

  startReplication(request: ReplicationRequest): Promise<void> {
    return this.replication.startReplication(request)
  }

  stopReplication(request: Omit<ReplicationRequest, 'reconnectWindowSeconds' | 'attributes'>): Promise<void> {
    return this.replication.stopReplication(request)
  }

  listReplicas(sourceStageArn: string, participantId: string): Promise<Replica[]> {
    return this.replication.listReplicas(sourceStageArn, participantId)
  }

  /** One cheap call. Throttling still proves IVS is reachable and our credentials are accepted. */
  async ping(): Promise<void> {
    try {
      await this.api.call('ListStages', (abortSignal) => this.api.client.send(new ListStagesCommand({ maxResults: 1 }), { abortSignal }), {
        maxAttempts: 1,
      })
    } catch (error) {
      if (error instanceof AppError && error.details?.reason === 'throttled') return
      throw error
    }
  }
}
