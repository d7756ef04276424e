import {
  GetStageCommand,
  ListParticipantReplicasCommand,
  ListParticipantsCommand,
  type ParticipantSummary,
  StartParticipantReplicationCommand,
  StopParticipantReplicationCommand,
} from '@aws-sdk/client-ivs-realtime'
import { AppError } from '../errors'
import type { IvsRealTimeApi } from './aws-api'
import type { Replica, ReplicationRequest, ReplicationType, StageParticipant } from './types'

/** IVS's largest page of ListParticipantReplicas (ListParticipants takes 100). */
const MAX_REPLICA_PAGE = 50
const REPLICATION_TYPES: readonly string[] = ['NONE', 'SOURCE', 'REPLICA'] satisfies ReplicationType[]

function toParticipant(p: ParticipantSummary): StageParticipant | null {
  if (!p.participantId) return null
  const replicationType = REPLICATION_TYPES.includes(p.replicationType ?? '') ? (p.replicationType as ReplicationType) : 'NONE'
  return {
    participantId: p.participantId,
    userId: p.userId ?? null,
    published: p.published ?? false,
    state: p.state === 'CONNECTED' ? 'CONNECTED' : 'DISCONNECTED',
    replicationType,
    sourceStageArn: replicationType === 'REPLICA' ? (p.sourceStageArn ?? null) : null,
  }
}

const isCode = (error: unknown, code: AppError['code']) => error instanceof AppError && error.code === code

/**
 * Who publishes in a stage, and participant replication (DESIGN §12), on the ivs-realtime API: each
 * call paced, retried and mapped like the stage operations, within the 5 TPS of stage operations.
 * The SDK's paginators are not used: they call the client directly, bypassing pacing and retries.
 */
export class AwsParticipants {
  constructor(
    private readonly api: IvsRealTimeApi,
    /** ListParticipants page size (1–100); ListParticipantReplicas takes at most 50. */
    private readonly pageSize: number,
  ) {}

  /**
   * GetStage for the current session, then ListParticipants of it filtered to those that published:
   * one page of up to 100 in practice (IVS allows 12 publishers per stage, plus replicas). Subscribers
   * (viewers) are left out: a stage holds thousands, and one filter is all IVS takes per request.
   */
  async participants(stageArn: string): Promise<StageParticipant[]> {
    const subject = `stage ${stageArn}`
    const got = await this.api.call('GetStage', (abortSignal) => this.api.client.send(new GetStageCommand({ arn: stageArn }), { abortSignal }), { subject })
    const sessionId = got.stage?.activeSessionId
    if (!sessionId) return []
    const participants: StageParticipant[] = []
    let nextToken: string | undefined
    do {
      const page = await this.api.call(
        'ListParticipants',
        (abortSignal) =>
          this.api.client.send(new ListParticipantsCommand({ stageArn, sessionId, filterByPublished: true, maxResults: this.pageSize, nextToken }), {
            abortSignal,
          }),
        { subject },
      )
      for (const p of page.participants ?? []) {
        const participant = toParticipant(p)
        if (participant) participants.push(participant)
      }
      nextToken = page.nextToken || undefined
    } while (nextToken)
    return participants
  }

  /**
   * StartParticipantReplication. A 409 may also mean the replication is already running (IVS
   * documents neither answer; a retried attempt whose first try reached IVS gets one too), so a 409 is
   * checked against ListParticipantReplicas: an ACTIVE replica in that destination is success.
   */
  async startReplication(request: ReplicationRequest): Promise<void> {
    const { sourceStageArn, destinationStageArn, participantId, reconnectWindowSeconds, attributes } = request
    try {
      await this.api.call(
        'StartParticipantReplication',
        (abortSignal) =>
          this.api.client.send(
            new StartParticipantReplicationCommand({ sourceStageArn, destinationStageArn, participantId, reconnectWindowSeconds, attributes }),
            { abortSignal },
          ),
        { subject: `source stage ${sourceStageArn} or destination stage ${destinationStageArn}`, expected: ['CONFLICT'] },
      )
    } catch (error) {
      if (!isCode(error, 'CONFLICT')) throw error
      const replicas = await this.listReplicas(sourceStageArn, participantId)
      if (replicas.some((r) => r.destinationStageArn === destinationStageArn && r.state === 'ACTIVE')) return
      throw error
    }
  }

  /** StopParticipantReplication; IVS's 404 (no such replication running, or a stage gone) is not an error. */
  async stopReplication(request: Pick<ReplicationRequest, 'sourceStageArn' | 'destinationStageArn' | 'participantId'>): Promise<void> {
    const { sourceStageArn, destinationStageArn, participantId } = request
    try {
      await this.api.call(
        'StopParticipantReplication',
        (abortSignal) => this.api.client.send(new StopParticipantReplicationCommand({ sourceStageArn, destinationStageArn, participantId }), { abortSignal }),
        { subject: `replication of participant ${participantId} to stage ${destinationStageArn}` },
      )
    } catch (error) {
      if (!isCode(error, 'NOT_FOUND')) throw error
    }
  }

  /** Every page of ListParticipantReplicas: ACTIVE and STOPPED replicas, one per destination. */
  async listReplicas(sourceStageArn: string, participantId: string): Promise<Replica[]> {
    const replicas: Replica[] = []
    let nextToken: string | undefined
    do {
      const page = await this.api.call(
        'ListParticipantReplicas',
        (abortSignal) =>
          this.api.client.send(
            new ListParticipantReplicasCommand({ sourceStageArn, participantId, maxResults: Math.min(this.pageSize, MAX_REPLICA_PAGE), nextToken }),
            { abortSignal },
          ),
        { subject: `stage ${sourceStageArn}` },
      )
      for (const r of page.replicas ?? []) {
        if (!r.destinationStageArn) continue
        replicas.push({
          destinationStageArn: r.destinationStageArn,
          participantId: r.participantId ?? participantId,
          state: r.replicationState === 'ACTIVE' ? 'ACTIVE' : 'STOPPED',
        })
      }
      nextToken = page.nextToken || undefined
    } while (nextToken)
    return replicas
  }
}
