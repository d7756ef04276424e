import { AppError } from '../../src/errors'
import type { Replica, ReplicationRequest, StageParticipant, StageProvider } from '../../src/ivs/types'

type ReplicationPart = Pick<StageProvider, 'participants' | 'startReplication' | 'stopReplication' | 'listReplicas'>

interface Running {
  sourceStageArn: string
  destinationStageArn: string
  participantId: string
  state: 'ACTIVE' | 'STOPPED'
}

/**
 * The replication part of the StageProvider contract, in memory, for the fleet's unit tests: the
 * rules IVS documents (409 unless the participant publishes, 402 past 5 ACTIVE per participant,
 * 404 for a missing stage, starting an ACTIVE one is not an error, stopping a stopped one neither),
 * no timing. Stages known to it are the ones `addStage` named; `local` makes it a local provider
 * (participants null, replication refused).
 */
export class FakeReplicationProvider implements ReplicationPart {
  readonly stages = new Set<string>()
  readonly people = new Map<string, StageParticipant[]>()
  readonly replications: Running[] = []
  /** Every call, in order: `Operation source→destination participant`. */
  readonly calls: string[] = []
  /** Participants connected but not sending media (IVS answers 409 for them). */
  readonly silent = new Set<string>()
  /** The next this many StopParticipantReplication calls fail (IVS throttled them). */
  failStops = 0

  constructor(private readonly local = false) {}

  addStage(...arns: string[]): void {
    for (const arn of arns) this.stages.add(arn)
  }

  /** A participant publishing into the stage (a broadcaster, or the relay as `relay-<serverId>`). */
  publish(stageArn: string, participantId: string, userId: string | null = null): void {
    this.leave(stageArn, participantId)
    this.listOf(stageArn).push({ participantId, userId, published: true, state: 'CONNECTED', replicationType: 'NONE', sourceStageArn: null })
  }

  /** The participant left: DISCONNECTED; its replications stay ACTIVE (the reconnect window). */
  leave(stageArn: string, participantId: string): void {
    const p = this.listOf(stageArn).find((x) => x.participantId === participantId && x.replicationType !== 'REPLICA')
    if (p) p.state = 'DISCONNECTED'
  }

  /** The reconnect window passed: IVS stopped the participant's replications. */
  expire(participantId: string): void {
    for (const r of this.replications) if (r.participantId === participantId && r.state === 'ACTIVE') this.end(r)
  }

  active(): string[] {
    return this.replications.filter((r) => r.state === 'ACTIVE').map((r) => `${short(r.sourceStageArn)}→${short(r.destinationStageArn)} ${r.participantId}`)
  }

  async participants(stageArn: string): Promise<StageParticipant[] | null> {
    this.calls.push(`ListParticipants ${short(stageArn)}`)
    if (this.local) return null
    if (!this.stages.has(stageArn)) throw new AppError('NOT_FOUND', `stage ${stageArn} not found`)
    return this.listOf(stageArn).map((p) => ({ ...p }))
  }

  async startReplication(request: ReplicationRequest): Promise<void> {
    const { sourceStageArn: src, destinationStageArn: dst, participantId: id } = request
    this.calls.push(`StartParticipantReplication ${short(src)}→${short(dst)} ${id}`)
    if (this.local) throw new AppError('VALIDATION_ERROR', 'participant replication needs IVS', { reason: 'local-stages' })
    if (!this.stages.has(src) || !this.stages.has(dst)) throw new AppError('NOT_FOUND', 'stage not found')
    if (this.replications.some((r) => r.state === 'ACTIVE' && r.sourceStageArn === src && r.destinationStageArn === dst && r.participantId === id)) return
    const p = this.listOf(src).find((x) => x.participantId === id)
    if (p?.state !== 'CONNECTED' || p.replicationType === 'REPLICA' || this.silent.has(id)) {
      throw new AppError('CONFLICT', `participant ${id} is not publishing`)
    }
    if (this.replications.filter((r) => r.state === 'ACTIVE' && r.sourceStageArn === src && r.participantId === id).length >= 5) {
      throw new AppError('CAPACITY_EXHAUSTED', 'at most 5 replications per participant', { reason: 'replication-quota' })
    }
    this.replications.push({ sourceStageArn: src, destinationStageArn: dst, participantId: id, state: 'ACTIVE' })
    p.replicationType = 'SOURCE'
    this.listOf(dst).push({ participantId: id, userId: p.userId, published: true, state: 'CONNECTED', replicationType: 'REPLICA', sourceStageArn: src })
  }

  async stopReplication(request: Omit<ReplicationRequest, 'reconnectWindowSeconds' | 'attributes'>): Promise<void> {
    this.calls.push(`StopParticipantReplication ${short(request.sourceStageArn)}→${short(request.destinationStageArn)} ${request.participantId}`)
    if (this.local) throw new AppError('VALIDATION_ERROR', 'participant replication needs IVS', { reason: 'local-stages' })
    if (this.failStops > 0) {
      this.failStops--
      throw new AppError('UPSTREAM_UNAVAILABLE', 'throttled')
    }
    const r = this.replications.find(
      (x) =>
        x.state === 'ACTIVE' &&
        x.sourceStageArn === request.sourceStageArn &&
        x.destinationStageArn === request.destinationStageArn &&
        x.participantId === request.participantId,
    )
    if (r) this.end(r)
  }

  async listReplicas(sourceStageArn: string, participantId: string): Promise<Replica[]> {
    this.calls.push(`ListParticipantReplicas ${short(sourceStageArn)} ${participantId}`)
    if (this.local) throw new AppError('VALIDATION_ERROR', 'participant replication needs IVS', { reason: 'local-stages' })
    return this.replications
      .filter((r) => r.sourceStageArn === sourceStageArn && r.participantId === participantId)
      .map((r) => ({ destinationStageArn: r.destinationStageArn, participantId, state: r.state }))
  }

  /** A stage deleted: its replications end, as IVS ends them. */
  deleteStage(arn: string): void {
    this.stages.delete(arn)
    this.people.delete(arn)
    for (const r of this.replications) if (r.state === 'ACTIVE' && (r.sourceStageArn === arn || r.destinationStageArn === arn)) this.end(r)
  }

  private end(r: Running): void {
    r.state = 'STOPPED'
    const list = this.listOf(r.destinationStageArn)
    const i = list.findIndex((p) => p.replicationType === 'REPLICA' && p.participantId === r.participantId && p.sourceStageArn === r.sourceStageArn)
    if (i >= 0) list.splice(i, 1)
  }

  private listOf(stageArn: string): StageParticipant[] {
    let list = this.people.get(stageArn)
    if (!list) {
      list = []
      this.people.set(stageArn, list)
    }
    return list
  }
}

/** The ARN's last segment, for readable call logs. */
export const short = (arn: string) => arn.split('/').pop()!
