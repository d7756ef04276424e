import type { StageEndpoints } from '../store/types'

export interface ProviderStage {
  arn: string
  name: string
  tags: Record<string, string>
  endpoints: StageEndpoints
}

/** Where stages live: AWS IVS, or the embedded local provider. */
export interface StageProvider {
  readonly kind: 'aws' | 'local'
  createStage(input: { name: string; tags: Record<string, string> }): Promise<ProviderStage>
  /** null when the stage does not exist. */
  getStage(arn: string): Promise<ProviderStage | null>
  updateStage(arn: string, input: { name: string }): Promise<ProviderStage>
  /** Deleting a stage that is already gone is not an error. */
  deleteStage(arn: string): Promise<void>
  /** Every stage, or only those carrying all the given tags. */
  listStages(filter?: { tags?: Record<string, string> }): Promise<ProviderStage[]>
  /** Throws when the provider cannot be reached. */
  ping(): Promise<void>
  /**
   * Participants publishing in the stage's current session (published, CONNECTED, not a replica), or
   * null when the provider cannot tell (local stages). On IVS the same two calls as `participants`.
   */
  publishingParticipants(stageArn: string): Promise<number | null>
  /**
   * The participants that published in the stage's current session, connected or not, replicas
   * included; empty without a session; null when the provider cannot tell (local stages: they
   * carry no media). Subscribe-only participants (the viewers) are not listed: a stage holds
   * thousands and IVS takes one filter per ListParticipants. On IVS: GetStage, then ListParticipants
   * (filterByPublished) of its activeSessionId, every page. NOT_FOUND for a missing stage.
   */
  participants(stageArn: string): Promise<StageParticipant[] | null>
  /**
   * Participant replication (DESIGN §12): copies a publishing participant of `sourceStageArn` into
   * `destinationStageArn`. IVS refuses: 409 (AppError CONFLICT) when the participant is not publishing
   * in the source's current session (or is itself a replica), 402 (CAPACITY_EXHAUSTED,
   * details.reason 'replication-quota') past 5 ACTIVE replications of one participant, 404
   * (NOT_FOUND) for a missing stage, 400 (VALIDATION_ERROR) for an id outside [a-zA-Z0-9-]{1,64},
   * a reconnect window outside 0–60 or source = destination. Starting one that is already ACTIVE is
   * not an error. Local stages refuse it (VALIDATION_ERROR, details.reason 'local-stages').
   */
  startReplication(request: ReplicationRequest): Promise<void>
  /**
   * Stopping a replication that is not running (or whose stage is gone) is not an error. Local
   * stages refuse it (VALIDATION_ERROR, details.reason 'local-stages').
   */
  stopReplication(request: Omit<ReplicationRequest, 'reconnectWindowSeconds' | 'attributes'>): Promise<void>
  /**
   * The participant's replicas from that stage (ListParticipantReplicas, every page), ACTIVE and
   * STOPPED, one per destination; empty for a stage IVS does not know. Local stages refuse it.
   */
  listReplicas(sourceStageArn: string, participantId: string): Promise<Replica[]>
}

export type ReplicationType = 'NONE' | 'SOURCE' | 'REPLICA'

export interface StageParticipant {
  /** A replica has its source participant's id. */
  participantId: string
  userId: string | null
  /** IVS: whether it ever published in this session (a WHIP publisher publishes while it is CONNECTED). */
  published: boolean
  state: 'CONNECTED' | 'DISCONNECTED'
  replicationType: ReplicationType
  /** For a replica: the stage it is copied from. */
  sourceStageArn: string | null
}

export interface ReplicationRequest {
  sourceStageArn: string
  destinationStageArn: string
  participantId: string
  /**
   * 0–60 (the ivs-realtime model's ReconnectWindowSeconds; 0–300 is participant recording's window):
   * how long the replication stays ACTIVE after its source stops publishing. The same participant
   * back within it keeps it; after it, the replication is STOPPED and a returning broadcaster is a
   * new participant to replicate again.
   */
  reconnectWindowSeconds: number
  attributes?: Record<string, string>
}

export interface Replica {
  destinationStageArn: string
  participantId: string
  state: 'ACTIVE' | 'STOPPED'
}

export type Capability = 'PUBLISH' | 'SUBSCRIBE'

export interface TokenRequest {
  /** Self-signed tokens use it as `jti`; IVS's API picks its own. */
  participantId?: string
  stage: { arn: string; endpoints: StageEndpoints }
  userId: string
  attributes: Record<string, string>
  capabilities: Capability[]
  durationMinutes: number
}

export interface IssuedToken {
  token: string
  participantId: string
  expirationTime: string
}

/** Issues IVS participant tokens: self-signed ES384 JWTs, or CreateParticipantToken calls. */
export interface TokenIssuer {
  readonly strategy: 'self-signed' | 'api'
  issue(request: TokenRequest): Promise<IssuedToken>
}
