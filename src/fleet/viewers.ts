import type { Clock } from '../clock'
import { AppError, notFound } from '../errors'
import { randomAlphanumeric } from '../ids'
import type { IssuedToken, TokenIssuer } from '../ivs/types'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { Store, ViewerDuration, ViewerPage, WatchSession } from '../store/types'
import { fleetFull, type Refusal, refusalError, subscriptionQuotaReached } from './admission'
import type { HeartbeatBatcher } from './heartbeats'
import type { ViewerSettings } from './settings'
import type { RoomOutcome } from './stages'
import type { ViewerSessions } from './viewer-session'

export interface ViewerToken extends IssuedToken {
  stageArn: string
  heartbeatIntervalMs: number
  viewerSession: string
}

export type HeartbeatResult = { ok: true; nextHeartbeatMs: number; viewerSession: string }

/** Where a viewer that found no seat waits for one (the stage lifecycle's scale-on-demand). */
export interface RoomMaker {
  /** ok once a stage other than `exclude` has a free seat; otherwise why not. */
  makeRoom(exclude?: readonly string[]): Promise<RoomOutcome>
}

export interface ViewerServiceDeps {
  store: Store
  tokens: TokenIssuer
  sessions: ViewerSessions
  heartbeats: HeartbeatBatcher
  room: RoomMaker
  counters: Counters
  clock: Clock
  logger: Logger
}

/** Viewers: seating with a token, rejoin, heartbeats, leave, the silent-viewer sweep and watch time. */
export class ViewerService {
  constructor(
    private readonly deps: ViewerServiceDeps,
    private readonly settings: ViewerSettings,
  ) {}

  /** Seats the viewer (fill-first, atomic) and signs a subscribe-only token for that stage. */
  async issueToken(input: { userId: string; attributes?: Record<string, string>; leaving?: string }): Promise<ViewerToken> {
    const { store, clock, tokens, sessions } = this.deps
    const exclude = input.leaving ? [input.leaving] : []
    const participantId = randomAlphanumeric(12)
    const maxViewers = this.settings.maxSubscriptions
    const assign = () => store.assignViewer({ userId: input.userId, participantId, now: clock.now(), exclude, maxViewers })
    let result = await assign()
    // No seat anywhere: wait for a new stage (ours or another instance's), then try again.
    // Many waiters compete for each new stage in a burst, so the wait is bounded by time, not rounds.
    const giveUpAt = clock.now() + this.settings.seatWaitMs
    let room: RoomOutcome = { ok: true }
    while (!result.ok && result.reason === 'full' && clock.now() < giveUpAt) {
      room = await this.deps.room.makeRoom(exclude)
      if (!room.ok) break
      result = await assign()
    }
    if (!result.ok) {
      // The store refused at the quota: the fleet holds at least maxViewers.
      const refusal: Refusal =
        result.reason === 'quota'
          ? subscriptionQuotaReached(maxViewers, maxViewers)
          : room.ok
            ? fleetFull(this.settings.maxStages, this.settings.ceiling)
            : room.refusal
      this.deps.counters.add('CapacityRefusals', 1, { reason: refusal.kind })
      throw refusalError(refusal)
    }
    const { stage } = result
    let issued: IssuedToken
    try {
      issued = await tokens.issue({
        stage,
        participantId: result.presence.participantId,
        userId: input.userId,
        attributes: input.attributes ?? {},
        capabilities: ['SUBSCRIBE'],
        durationMinutes: this.settings.viewerTokenTtlMin,
      })
    } catch (error) {
      // No token, no seat: give back a seat this request took (one the viewer already held stays).
      if (!result.kept) await store.leaveViewer(input.userId, stage.arn, clock.now())
      throw error
    }
    if (issued.participantId !== result.presence.participantId) {
      // CreateParticipantToken picks its own id: record it on the seat the token is for, and only there
      // (one assignment per token: a stage that started draining meanwhile keeps the viewer, who is
      // told to rejoin like every viewer there). A seat lost meanwhile (stage deleted, viewer moved or
      // gone) stays lost: the token's first heartbeat answers REJOIN_REQUIRED, as for any seat lost
      // after issuance.
      await store.setParticipantId(input.userId, stage.arn, issued.participantId)
    }
    this.deps.counters.add('TokensIssued', 1, { kind: 'viewer' })
    const expSeconds = Math.floor(Date.parse(issued.expirationTime) / 1000)
    return {
      ...issued,
      stageArn: stage.arn,
      heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
      viewerSession: sessions.sign({ userId: input.userId, participantId: issued.participantId, stageArn: stage.arn, exp: expSeconds }),
    }
  }

  /**
   * A fresh token for a viewer that must move (its stage is draining or gone), says which stage it
   * is leaving (`stageArn`), or lost its token. The new seat is taken and the old one freed in one
   * atomic step: with no seat elsewhere the viewer keeps the one it has.
   */
  async rejoin(input: { userId: string; stageArn?: string }): Promise<ViewerToken> {
    let leaving = input.stageArn
    if (!leaving) {
      const current = await this.deps.store.findViewer(input.userId)
      const stage = current ? await this.deps.store.getStage(current.stageArn) : null
      if (current && (!stage || stage.status === 'draining')) leaving = current.stageArn
    }
    return this.issueToken({ userId: input.userId, leaving })
  }

  /** `participantId` only goes into the refreshed viewer session. */
  async heartbeat(input: { userId: string; stageArn: string; participantId?: string }): Promise<HeartbeatResult> {
    const outcome = await this.deps.heartbeats.submit({ userId: input.userId, stageArn: input.stageArn })
    this.deps.counters.add('Heartbeats', 1)
    if (outcome === 'unknown') {
      throw new AppError('REJOIN_REQUIRED', `viewer ${input.userId} is not present on stage ${input.stageArn}`, { rejoin: true, action: 'rejoin' })
    }
    if (outcome === 'draining') {
      throw new AppError('REJOIN_REQUIRED', `stage ${input.stageArn} is draining`, { rejoin: true, draining: true, action: 'rejoin' })
    }
    // A sliding session: a viewer that keeps heartbeating keeps a valid session, however long it watches.
    const exp = Math.floor(this.deps.clock.now() / 1000) + this.settings.viewerTokenTtlMin * 60
    const viewerSession = this.deps.sessions.sign({ userId: input.userId, participantId: input.participantId ?? '', stageArn: input.stageArn, exp })
    return { ok: true, nextHeartbeatMs: this.settings.heartbeatIntervalMs, viewerSession }
  }

  async leave(input: { userId: string; stageArn: string }): Promise<WatchSession> {
    const session = await this.deps.store.leaveViewer(input.userId, input.stageArn, this.deps.clock.now())
    if (!session) throw notFound(`viewer ${input.userId} on stage ${input.stageArn}`)
    return session
  }

  async list(stageArn: string, limit: number, cursor: string | null): Promise<ViewerPage> {
    if (!(await this.deps.store.getStage(stageArn))) throw notFound(`stage ${stageArn}`)
    return this.deps.store.listViewers(stageArn, limit, cursor)
  }

  duration(userId: string, stageArn: string | null): Promise<ViewerDuration> {
    return this.deps.store.viewerDuration(userId, stageArn, this.deps.clock.now())
  }

  /** Removes viewers silent for longer than `timeoutMs`, recording their watch time. */
  async sweepSilent(timeoutMs: number): Promise<number> {
    const batch = 1000
    let removed = 0
    for (;;) {
      const now = this.deps.clock.now()
      const swept = await this.deps.store.sweepViewers(now - timeoutMs, now, batch)
      removed += swept.length
      if (swept.length < batch) break
    }
    if (removed > 0) this.deps.logger.info('silent viewers removed', { removed })
    return removed
  }
}
