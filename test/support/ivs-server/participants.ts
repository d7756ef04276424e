import { randomAlphanumeric } from '../../../src/ids'
import {
  type Body,
  IvsError,
  optionalInt,
  optionalString,
  PARTICIPANT_ID,
  page,
  requiredString,
  SESSION_ID,
  STAGE_ARN,
  stringMap,
  validAttributes,
} from './input'

/**
 * The test IVS server's stage sessions, participants and participant replication, as IVS documents
 * them (the ivs-realtime API reference and model, the Real-Time User Guide's "Participant
 * Replication"); where IVS documents nothing, the choice is named here.
 *
 * - A stage session starts with its first connected participant and ends when none is connected and
 *   no reconnect window of a replication from it is open (IVS documents no delay; here there is none).
 *   Ended sessions stay listable by id.
 * - A participant publishes while it is CONNECTED and `published` (a WHIP session publishes from the
 *   start; IVS's `published` means "ever published in this session").
 * - StartParticipantReplication: 400 for ids outside the model (participantId `[a-zA-Z0-9-]{1,64}`,
 *   stage ARNs, reconnectWindowSeconds 0–60, attributes ≤ 1 KB) and for source = destination
 *   (undocumented); 404 for a missing stage; 409 unless the participant publishes in the source's
 *   current session, 409 for a replica as the source (undocumented: refused here), 409 for a
 *   replication to that destination that is already ACTIVE (undocumented: IVS may answer 200);
 *   402 past 5 ACTIVE replications of the participant. The replica joins the destination (its session
 *   started if needed) CONNECTED, published, replicationType REPLICA, with the source's attributes
 *   overridden by the request's; the source participant becomes SOURCE.
 * - A replication stops (STOPPED, its replica DISCONNECTED) on StopParticipantReplication (404 when
 *   none is ACTIVE), when either stage is deleted, and when its source stops publishing and
 *   `reconnectWindowSeconds` (real time) pass without the same participant id publishing again.
 *   During the window the replica stays CONNECTED and the replication ACTIVE.
 * - ListParticipantReplicas lists every replication of the participant from that stage, one per
 *   destination (a new start replaces a STOPPED one); those of a deleted source stage are dropped.
 */

export type ParticipantState = 'CONNECTED' | 'DISCONNECTED'
export type ReplicationType = 'NONE' | 'SOURCE' | 'REPLICA'
export type ReplicationState = 'ACTIVE' | 'STOPPED'

/** A participant as `setParticipants` puts it in place. */
export interface TestParticipant {
  participantId: string
  userId?: string
  published: boolean
  state: ParticipantState
  attributes?: Record<string, string>
}

export interface ParticipantRecord {
  participantId: string
  userId?: string
  attributes: Record<string, string>
  published: boolean
  state: ParticipantState
  firstJoinTime: string
  replicationType: ReplicationType
  /** A replica's replication. */
  replication?: Replication
}

/** A replication as ListParticipantReplicas reports it. */
export interface ReplicationView {
  sourceStageArn: string
  participantId: string
  sourceSessionId: string
  destinationStageArn: string
  destinationSessionId: string
  state: ReplicationState
  reconnectWindowSeconds: number
}

export interface Replication extends ReplicationView {
  /** The reconnect window running after the source stopped publishing. */
  timer?: ReturnType<typeof setTimeout>
}

/** A stage as the participant model sees it (the server's IvsStage). */
interface SessionStage {
  arn: string
  activeSessionId?: string
}

/** A replicated participant may have at most this many ACTIVE replications (fixed by IVS). */
export const MAX_REPLICATIONS_PER_PARTICIPANT = 5
const MAX_RECONNECT_WINDOW_SECONDS = 60

const publishing = (p: ParticipantRecord | undefined) => p !== undefined && p.state === 'CONNECTED' && p.published

/** The participant a WHIP session's token names: its `jti` (self-signed and IVS-issued tokens alike), else one per token. */
export function participantOfToken(token: string): { participantId: string; userId?: string; attributes: Record<string, string> } {
  let claims: Record<string, unknown> = {}
  try {
    claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>
  } catch {}
  const jti = typeof claims.jti === 'string' && claims.jti !== '' ? claims.jti : `t-${new Bun.CryptoHasher('sha256').update(token).digest('hex').slice(0, 20)}`
  const attributes = claims.attributes && typeof claims.attributes === 'object' ? (claims.attributes as Record<string, string>) : {}
  return { participantId: jti, userId: typeof claims.user_id === 'string' ? claims.user_id : undefined, attributes }
}

export function createParticipantModel(stages: Map<string, SessionStage>) {
  /** Stage ARN → session id → participant id → participant. */
  const sessions = new Map<string, Map<string, Map<string, ParticipantRecord>>>()
  const replications: Replication[] = []

  const existingStage = (arn: string): SessionStage => {
    const stage = stages.get(arn)
    if (!stage) throw new IvsError('ResourceNotFoundException', `Resource ${arn} not found`)
    return stage
  }
  const sessionsOf = (arn: string) => {
    let byId = sessions.get(arn)
    if (!byId) {
      byId = new Map()
      sessions.set(arn, byId)
    }
    return byId
  }
  const current = (stage: SessionStage) => (stage.activeSessionId ? sessionsOf(stage.arn).get(stage.activeSessionId) : undefined)
  const ensureSession = (stage: SessionStage) => {
    if (!stage.activeSessionId) {
      stage.activeSessionId = `st-${randomAlphanumeric(13)}`
      sessionsOf(stage.arn).set(stage.activeSessionId, new Map())
    }
    return { id: stage.activeSessionId, participants: sessionsOf(stage.arn).get(stage.activeSessionId)! }
  }
  const replicationsOf = (sourceStageArn: string, participantId: string) =>
    replications.filter((r) => r.sourceStageArn === sourceStageArn && r.participantId === participantId)

  /** Ends the stage's session once nobody is connected and no reconnect window from it is open. */
  const maybeEndSession = (arn: string) => {
    const stage = stages.get(arn)
    const participants = stage ? current(stage) : undefined
    if (!stage || !participants) return
    if ([...participants.values()].some((p) => p.state === 'CONNECTED')) return
    if (replications.some((r) => r.sourceStageArn === arn && r.sourceSessionId === stage.activeSessionId && r.state === 'ACTIVE')) return
    delete stage.activeSessionId
  }

  const stopReplication = (replication: Replication) => {
    if (replication.state === 'STOPPED') return
    replication.state = 'STOPPED'
    clearTimeout(replication.timer)
    replication.timer = undefined
    const replica = sessions.get(replication.destinationStageArn)?.get(replication.destinationSessionId)?.get(replication.participantId)
    if (replica?.replication === replication) replica.state = 'DISCONNECTED'
    maybeEndSession(replication.destinationStageArn)
    maybeEndSession(replication.sourceStageArn)
  }

  /** The participant published again within its replications' reconnect windows: they go on. */
  const resumed = (arn: string, participantId: string) => {
    for (const r of replicationsOf(arn, participantId)) {
      clearTimeout(r.timer)
      r.timer = undefined
    }
  }

  /** The participant stopped publishing: each ACTIVE replication from it stops once its window passes without it back. */
  const stoppedPublishing = (arn: string, participantId: string) => {
    for (const r of replicationsOf(arn, participantId)) {
      if (r.state !== 'ACTIVE' || r.timer) continue
      if (r.reconnectWindowSeconds === 0) {
        stopReplication(r)
        continue
      }
      r.timer = setTimeout(() => {
        r.timer = undefined
        const stage = stages.get(arn)
        if (!publishing(stage ? current(stage)?.get(participantId) : undefined)) stopReplication(r)
      }, r.reconnectWindowSeconds * 1000)
    }
  }

  /** Puts `update` in place for the participant in the stage's current session, then applies what changed. */
  const setOne = (stage: SessionStage, participantId: string, update: (existing: ParticipantRecord | undefined) => ParticipantRecord | null) => {
    const participants = current(stage)
    const before = participants?.get(participantId)
    const wasPublishing = publishing(before)
    const after = update(before)
    if (after) ensureSession(stage).participants.set(participantId, after)
    else participants?.delete(participantId)
    const isPublishing = publishing(after ?? undefined)
    if (isPublishing && !wasPublishing) resumed(stage.arn, participantId)
    if (wasPublishing && !isPublishing) stoppedPublishing(stage.arn, participantId)
  }

  const joined = (existing: ParticipantRecord | undefined, participant: TestParticipant): ParticipantRecord => ({
    participantId: participant.participantId,
    userId: participant.userId ?? existing?.userId,
    attributes: participant.attributes ?? existing?.attributes ?? {},
    published: participant.published,
    state: participant.state,
    firstJoinTime: existing?.firstJoinTime ?? new Date().toISOString(),
    replicationType: existing?.replicationType ?? 'NONE',
  })

  const summary = (stageArn: string, p: ParticipantRecord) => {
    const replicationState: ReplicationState | undefined =
      p.replicationType === 'REPLICA'
        ? p.replication!.state
        : p.replicationType === 'SOURCE'
          ? replicationsOf(stageArn, p.participantId).some((r) => r.state === 'ACTIVE')
            ? 'ACTIVE'
            : 'STOPPED'
          : undefined
    return {
      participantId: p.participantId,
      userId: p.userId,
      state: p.state,
      firstJoinTime: p.firstJoinTime,
      published: p.published,
      recordingState: 'DISABLED',
      replicationType: p.replicationType,
      replicationState,
      sourceStageArn: p.replication?.sourceStageArn,
      sourceSessionId: p.replication?.sourceSessionId,
    }
  }

  const replicationKey = (body: Body) => ({
    sourceStageArn: requiredString(body, 'sourceStageArn', 128, STAGE_ARN),
    destinationStageArn: requiredString(body, 'destinationStageArn', 128, STAGE_ARN),
    participantId: requiredString(body, 'participantId', 64, PARTICIPANT_ID),
  })

  const handlers = {
    ListParticipants(body: Body) {
      const stage = existingStage(requiredString(body, 'stageArn', 128, STAGE_ARN))
      const sessionId = requiredString(body, 'sessionId', 16, SESSION_ID)
      const userId = optionalString(body, 'filterByUserId', 128)
      const state = optionalString(body, 'filterByState', 16, /^(CONNECTED|DISCONNECTED)$/)
      const recording = optionalString(body, 'filterByRecordingState', 16, /^(STARTING|ACTIVE|STOPPING|STOPPED|FAILED)$/)
      const filters = [userId !== undefined, body.filterByPublished === true, state !== undefined, recording !== undefined]
      if (filters.filter(Boolean).length > 1) {
        throw new IvsError(
          'ValidationException',
          'Only one of filterByUserId, filterByPublished, filterByState, or filterByRecordingState can be provided per request',
        )
      }
      if (body.filterByPublished !== undefined && typeof body.filterByPublished !== 'boolean')
        throw new IvsError('ValidationException', 'filterByPublished is invalid')
      const list = [...(sessions.get(stage.arn)?.get(sessionId)?.values() ?? [])]
        .filter((p) => userId === undefined || p.userId === userId)
        .filter((p) => body.filterByPublished !== true || p.published)
        .filter((p) => state === undefined || p.state === state)
        // Nobody is recorded here (recordingState DISABLED): a recording-state filter matches no one.
        .filter(() => recording === undefined)
      const { items, nextToken } = page(list, body, 50, 100)
      return { participants: items.map((p) => summary(stage.arn, p)), nextToken }
    },

    StartParticipantReplication(body: Body) {
      const key = replicationKey(body)
      const reconnectWindowSeconds = optionalInt(body, 'reconnectWindowSeconds', 0, MAX_RECONNECT_WINDOW_SECONDS) ?? 0
      const attributes = stringMap(body, 'attributes', validAttributes)
      if (key.sourceStageArn === key.destinationStageArn) throw new IvsError('ValidationException', 'sourceStageArn and destinationStageArn must differ')
      const source = existingStage(key.sourceStageArn)
      const destination = existingStage(key.destinationStageArn)
      const participant = current(source)?.get(key.participantId)
      if (!publishing(participant)) throw new IvsError('ConflictException', `Participant ${key.participantId} is not publishing in stage ${source.arn}`)
      if (participant!.replicationType === 'REPLICA')
        throw new IvsError('ConflictException', `Participant ${key.participantId} is a replica and cannot be replicated`)
      const ofParticipant = replicationsOf(source.arn, key.participantId)
      if (ofParticipant.some((r) => r.destinationStageArn === destination.arn && r.state === 'ACTIVE')) {
        throw new IvsError('ConflictException', `Participant ${key.participantId} is already replicated to stage ${destination.arn}`)
      }
      const inDestination = current(destination)?.get(key.participantId)
      if (inDestination?.state === 'CONNECTED')
        throw new IvsError('ConflictException', `Participant ${key.participantId} is already in stage ${destination.arn}`)
      if (ofParticipant.filter((r) => r.state === 'ACTIVE').length >= MAX_REPLICATIONS_PER_PARTICIPANT) {
        throw new IvsError(
          'ServiceQuotaExceededException',
          `Participant ${key.participantId} already has the maximum of ${MAX_REPLICATIONS_PER_PARTICIPANT} active replications`,
        )
      }
      const stopped = replications.findIndex(
        (r) => r.sourceStageArn === source.arn && r.participantId === key.participantId && r.destinationStageArn === destination.arn,
      )
      if (stopped >= 0) replications.splice(stopped, 1)
      const session = ensureSession(destination)
      const replication: Replication = {
        ...key,
        sourceSessionId: source.activeSessionId!,
        destinationSessionId: session.id,
        state: 'ACTIVE',
        reconnectWindowSeconds,
      }
      replications.push(replication)
      participant!.replicationType = 'SOURCE'
      session.participants.set(key.participantId, {
        participantId: key.participantId,
        userId: participant!.userId,
        attributes: { ...participant!.attributes, ...attributes },
        published: true,
        state: 'CONNECTED',
        firstJoinTime: inDestination?.firstJoinTime ?? new Date().toISOString(),
        replicationType: 'REPLICA',
        replication,
      })
      return {}
    },

    StopParticipantReplication(body: Body) {
      const key = replicationKey(body)
      existingStage(key.sourceStageArn)
      existingStage(key.destinationStageArn)
      const replication = replicationsOf(key.sourceStageArn, key.participantId).find(
        (r) => r.destinationStageArn === key.destinationStageArn && r.state === 'ACTIVE',
      )
      if (!replication) {
        throw new IvsError('ResourceNotFoundException', `No active replication of participant ${key.participantId} to stage ${key.destinationStageArn}`)
      }
      stopReplication(replication)
      return {}
    },

    ListParticipantReplicas(body: Body) {
      const sourceStageArn = requiredString(body, 'sourceStageArn', 128, STAGE_ARN)
      const participantId = requiredString(body, 'participantId', 64, PARTICIPANT_ID)
      const list = replicationsOf(sourceStageArn, participantId).sort((a, b) => (a.destinationStageArn < b.destinationStageArn ? -1 : 1))
      const { items, nextToken } = page(list, body, 50, 50)
      return {
        replicas: items.map((r) => ({
          sourceStageArn: r.sourceStageArn,
          participantId: r.participantId,
          sourceSessionId: r.sourceSessionId,
          destinationStageArn: r.destinationStageArn,
          destinationSessionId: r.destinationSessionId,
          replicationState: r.state,
        })),
        nextToken,
      }
    },
  }

  return {
    handlers,
    replications,
    /** Replaces the stage's participants (its replicas stay): a session starts with the first connected one. */
    setParticipants(stage: SessionStage, list: TestParticipant[]) {
      const wanted = new Map(list.map((p) => [p.participantId, p]))
      for (const p of [...(current(stage)?.values() ?? [])]) {
        if (p.replicationType !== 'REPLICA' && !wanted.has(p.participantId)) setOne(stage, p.participantId, () => null)
      }
      for (const p of list) setOne(stage, p.participantId, (existing) => joined(existing, p))
      maybeEndSession(stage.arn)
    },
    /** A WHIP session with `token` into the stage came up (its participant joins and publishes) or ended (it leaves). */
    whipSession(stage: SessionStage, token: string, state: 'up' | 'down') {
      const who = participantOfToken(token)
      if (state === 'up') setOne(stage, who.participantId, (existing) => joined(existing, { ...who, published: true, state: 'CONNECTED' }))
      else if (current(stage)?.has(who.participantId)) {
        setOne(stage, who.participantId, (existing) => (existing ? { ...existing, state: 'DISCONNECTED' } : null))
        maybeEndSession(stage.arn)
      }
    },
    /** DeleteStage: its participants are disconnected and every replication from or to it stops. */
    stageDeleted(arn: string) {
      for (const participants of sessions.get(arn)?.values() ?? []) for (const p of participants.values()) p.state = 'DISCONNECTED'
      for (const r of replications) if (r.sourceStageArn === arn || r.destinationStageArn === arn) stopReplication(r)
      sessions.delete(arn)
      for (let i = replications.length - 1; i >= 0; i--) if (replications[i]!.sourceStageArn === arn) replications.splice(i, 1)
    },
    /** The participants of one session of a stage (for assertions). */
    participantsOf(arn: string, sessionId?: string) {
      const stage = stages.get(arn)
      const id = sessionId ?? stage?.activeSessionId
      return [...((id && sessions.get(arn)?.get(id)?.values()) || [])].map((p) => summary(arn, p))
    },
    close() {
      for (const r of replications) clearTimeout(r.timer)
    },
  }
}

export type ParticipantModel = ReturnType<typeof createParticipantModel>
