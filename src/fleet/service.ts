import type { Clock } from '../clock'
import { AppError, notFound } from '../errors'
import { randomAlphanumeric } from '../ids'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { Capability, IssuedToken, ProviderStage, StageProvider, TokenIssuer } from '../ivs/types'
import type { PublisherState, RelayRecord, StageRecord, StageView, Store, ViewerDuration, ViewerPage, WatchSession } from '../store/types'
import type { EventPublisher } from './events'
import type { HeartbeatBatcher } from './heartbeats'
import { computeStats, type FleetStats } from './stats'
import type { ViewerSessions } from './viewer-session'

export interface FleetSettings {
  fleetId: string
  /** This instance, as holder of store locks. */
  instanceId: string
  /** The creation lock is held at least this long per creation (IVS: 5 stage operations per second). */
  stageCreateSpacingMs: number
  stageCapacity: number
  maxStages: number
  heartbeatIntervalMs: number
  publisherTokenTtlMin: number
  viewerTokenTtlMin: number
  masterStageArn: string | null
}

export interface FleetDeps {
  store: Store
  provider: StageProvider
  tokens: TokenIssuer
  sessions: ViewerSessions
  events: EventPublisher
  counters: Counters
  clock: Clock
  logger: Logger
  heartbeats: HeartbeatBatcher
  /** Real waiting (for another instance's stage creation); injected so tests can shorten it. */
  sleep?: (ms: number) => Promise<void>
  settings: FleetSettings
}

export const FLEET_TAG = 'ivs-fanout:fleet'

/** The configured master stage does not exist: a configuration error, not an outage. */
export class MasterStageMissing extends Error {}
const CAPACITY_RETRY_AFTER_S = 5
/** One CreateStage in flight per fleet: a lock in the shared store, held at most this long. */
const CREATE_LOCK = 'stage-create'
const CREATE_LOCK_MS = 30_000
const CREATE_WAIT_POLL_MS = 50
const CREATE_WAIT_MAX_POLLS = 300
/** A request that found no seat waits at most this long for new stages before 503. */
const DEMAND_WAIT_MS = 20_000

export interface PublisherToken extends IssuedToken {
  stageArn: string
  whipUrl: string
  capabilities: Capability[]
}

export interface ViewerToken extends IssuedToken {
  stageArn: string
  heartbeatIntervalMs: number
  viewerSession: string
}

export type HeartbeatResult = { ok: true; nextHeartbeatMs: number; viewerSession: string }

/** The fleet's use cases: tokens, assignment, presence and stage management over a Store and a StageProvider. */
export class FleetService {
  private demand: Promise<boolean> | null = null
  private masterArn: string | null = null

  constructor(private readonly deps: FleetDeps) {}

  get settings(): FleetSettings {
    return this.deps.settings
  }

  /**
   * Makes sure the master stage exists (the configured one, the one the store remembers, or a new
   * one) and re-adopts this fleet's stages from the provider.
   */
  async start(): Promise<StageView> {
    // Under the fleet's creation lock: instances starting together must agree on one master.
    return this.underCreateLock(async () => {
      const master = await this.ensureMaster()
      await this.adoptFleetStages()
      return master
    })
  }

  private async ensureMaster(): Promise<StageView> {
    const { store, provider, settings, clock } = this.deps
    const known = (await store.listStages()).find((s) => s.isMaster)
    const wanted = settings.masterStageArn ?? known?.arn ?? null
    if (wanted !== null) {
      const stage = await provider.getStage(wanted)
      if (stage) {
        if (known && known.arn !== wanted) await store.removeStage(known.arn, clock.now())
        await store.addStage(this.record(stage, { isMaster: true, seq: 0 }), Number.MAX_SAFE_INTEGER)
        this.masterArn = wanted
        return (await store.getStage(wanted))!
      }
      if (settings.masterStageArn !== null) throw new MasterStageMissing(`MASTER_STAGE_ARN ${wanted} does not exist at the stage provider (${provider.kind})`)
      await store.removeStage(wanted, clock.now())
    }
    const created = await provider.createStage({ name: `${settings.fleetId}-master`, tags: { [FLEET_TAG]: settings.fleetId } })
    await store.addStage(this.record(created, { isMaster: true, seq: 0 }), Number.MAX_SAFE_INTEGER)
    this.masterArn = created.arn
    this.deps.logger.info('master stage created', { stageArn: created.arn })
    return (await store.getStage(created.arn))!
  }

  /**
   * After a restart the provider is the truth: stages carrying this fleet's tag that the store
   * lost are added back, records of stages the provider no longer has are dropped. Stages without
   * the tag are never touched.
   */
  async adoptFleetStages(): Promise<{ adopted: string[]; dropped: string[] }> {
    const { store, provider, settings, clock, logger } = this.deps
    // The store first: a stage created between the two reads is then at the provider too (adopted,
    // harmlessly, as its creator records it), never dropped for being missing there.
    const known = await store.listStages()
    const atProvider = await provider.listStages({ tags: { [FLEET_TAG]: settings.fleetId } })
    const present = new Set(atProvider.map((s) => s.arn))
    const knownArns = new Set(known.map((s) => s.arn))
    const dropped: string[] = []
    for (const stage of known) {
      if (stage.isMaster || present.has(stage.arn)) continue
      await store.removeStage(stage.arn, clock.now())
      dropped.push(stage.arn)
    }
    const adopted: string[] = []
    for (const stage of atProvider) {
      if (knownArns.has(stage.arn)) continue
      const added = await store.addStage(this.record(stage, { isMaster: false, seq: await store.nextStageSeq() }), Number.MAX_SAFE_INTEGER)
      if (added) adopted.push(stage.arn)
    }
    if (adopted.length || dropped.length) logger.info('fleet stages reconciled', { adopted, dropped })
    return { adopted, dropped }
  }

  async masterStage(): Promise<StageView> {
    const master = this.masterArn ? await this.deps.store.getStage(this.masterArn) : null
    if (!master) throw new AppError('UPSTREAM_UNAVAILABLE', 'the master stage is not available yet')
    return master
  }

  async issuePublisherToken(input: { userId: string; attributes?: Record<string, string>; durationMinutes?: number }): Promise<PublisherToken> {
    const master = await this.masterStage()
    const capabilities: Capability[] = ['PUBLISH', 'SUBSCRIBE']
    const issued = await this.deps.tokens.issue({
      stage: master,
      userId: input.userId,
      attributes: input.attributes ?? {},
      capabilities,
      durationMinutes: input.durationMinutes ?? this.settings.publisherTokenTtlMin,
    })
    this.deps.counters.add('TokensIssued', 1, { kind: 'publisher' })
    return { ...issued, stageArn: master.arn, whipUrl: master.endpoints.whip, capabilities }
  }

  async issueMediaServerToken(input: { serverId: string; stageArn: string }): Promise<PublisherToken> {
    const stage = await this.requireStage(input.stageArn)
    const capabilities: Capability[] = ['PUBLISH']
    const issued = await this.deps.tokens.issue({
      stage,
      userId: `relay-${input.serverId}`,
      attributes: { role: 'relay', serverId: input.serverId },
      capabilities,
      durationMinutes: this.settings.publisherTokenTtlMin,
    })
    this.deps.counters.add('TokensIssued', 1, { kind: 'mediaserver' })
    return { ...issued, stageArn: stage.arn, whipUrl: stage.endpoints.whip, capabilities }
  }

  /** Seats the viewer (fill-first, atomic) and signs a subscribe-only token for that stage. */
  async issueViewerToken(input: { userId: string; attributes?: Record<string, string>; leaving?: string }): Promise<ViewerToken> {
    const { store, clock, tokens, sessions, settings } = this.deps
    const exclude = input.leaving ? [input.leaving] : []
    const participantId = randomAlphanumeric(12)
    const assign = () => store.assignViewer({ userId: input.userId, participantId, capacity: settings.stageCapacity, now: clock.now(), exclude })
    let result = await assign()
    // No seat anywhere: wait for a new stage (ours or another instance's), then try again.
    // Many waiters compete for each new stage in a burst, so the wait is bounded by time, not rounds.
    const giveUpAt = performance.now() + DEMAND_WAIT_MS
    while (!result.ok && performance.now() < giveUpAt && (await this.stageForDemand())) result = await assign()
    if (!result.ok) {
      throw new AppError('CAPACITY_EXHAUSTED', `every stage is full and MAX_STAGES (${settings.maxStages}) is reached`, undefined, CAPACITY_RETRY_AFTER_S)
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
        durationMinutes: settings.viewerTokenTtlMin,
      })
    } catch (error) {
      // No token, no seat: give back a seat this request took (one the viewer already held stays).
      if (!result.kept) await store.leaveViewer(input.userId, stage.arn, clock.now())
      throw error
    }
    if (issued.participantId !== result.presence.participantId) {
      // CreateParticipantToken picks its own id: record it so presence matches the token.
      await store.assignViewer({ userId: input.userId, participantId: issued.participantId, capacity: settings.stageCapacity, now: clock.now(), exclude })
    }
    this.deps.counters.add('TokensIssued', 1, { kind: 'viewer' })
    const expSeconds = Math.floor(Date.parse(issued.expirationTime) / 1000)
    return {
      ...issued,
      stageArn: stage.arn,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      viewerSession: sessions.sign({ userId: input.userId, participantId: issued.participantId, stageArn: stage.arn, exp: expSeconds }),
    }
  }

  /** A fresh token for a viewer that must move (its stage is draining or gone) or lost its token. */
  async rejoin(input: { userId: string }): Promise<ViewerToken> {
    const current = await this.deps.store.findViewer(input.userId)
    let leaving: string | undefined
    if (current) {
      const stage = await this.deps.store.getStage(current.stageArn)
      if (!stage || stage.status === 'draining') leaving = current.stageArn
    }
    return this.issueViewerToken({ userId: input.userId, leaving })
  }

  /** `participantId` only goes into the refreshed viewer session. */
  async heartbeat(input: { userId: string; stageArn: string; participantId?: string }): Promise<HeartbeatResult> {
    const outcome = await this.deps.heartbeats.submit({ userId: input.userId, stageArn: input.stageArn })
    this.deps.counters.add('Heartbeats', 1)
    if (outcome === 'unknown') {
      throw new AppError('REJOIN_REQUIRED', `viewer ${input.userId} is not present on stage ${input.stageArn}; call POST /api/viewer/rejoin`, { rejoin: true })
    }
    if (outcome === 'draining') {
      throw new AppError('REJOIN_REQUIRED', `stage ${input.stageArn} is draining; call POST /api/viewer/rejoin`, { rejoin: true, draining: true })
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

  async listViewers(stageArn: string, limit: number, cursor: string | null): Promise<ViewerPage> {
    await this.requireStage(stageArn)
    return this.deps.store.listViewers(stageArn, limit, cursor)
  }

  async viewerDuration(userId: string, stageArn: string | null): Promise<ViewerDuration> {
    return this.deps.store.viewerDuration(userId, stageArn, this.deps.clock.now())
  }

  async listStages(): Promise<StageView[]> {
    return this.deps.store.listStages()
  }

  async requireStage(arn: string): Promise<StageView> {
    const stage = await this.deps.store.getStage(arn)
    if (!stage) throw notFound(`stage ${arn}`)
    return stage
  }

  async createStage(input: { name?: string; tags?: Record<string, string> }): Promise<StageView> {
    if (input.tags && FLEET_TAG in input.tags) {
      throw new AppError('VALIDATION_ERROR', `tags must not set ${FLEET_TAG}: the fleet sets it`, { field: 'tags' })
    }
    const stages = await this.deps.store.listStages()
    if (stages.length >= this.settings.maxStages) {
      throw new AppError('CONFLICT', `MAX_STAGES (${this.settings.maxStages}) stages already exist`)
    }
    const created = await this.addStage(input.name, input.tags ?? {})
    if (!created) throw new AppError('CONFLICT', `MAX_STAGES (${this.settings.maxStages}) stages already exist`)
    return created
  }

  async renameStage(arn: string, name: string): Promise<StageView> {
    await this.requireStage(arn)
    await this.deps.provider.updateStage(arn, { name })
    const updated = await this.deps.store.updateStage(arn, { name })
    if (!updated) throw notFound(`stage ${arn}`)
    return updated
  }

  async deleteStage(arn: string): Promise<{ stageArn: string; removedViewers: number }> {
    const stage = await this.requireStage(arn)
    if (stage.isMaster) throw new AppError('CONFLICT', 'the master stage cannot be deleted')
    return this.destroyStage(arn)
  }

  /** Drain: no new viewers; the ones there are told to rejoin (WebSocket and their next heartbeat). */
  async drainStage(arn: string): Promise<string[]> {
    const { store, clock, events, logger } = this.deps
    const now = clock.now()
    const stage = await store.updateStage(arn, { status: 'draining', drainingSince: now })
    if (!stage) return []
    const userIds: string[] = []
    let cursor: string | null = null
    do {
      const page = await store.listViewers(arn, 1000, cursor)
      userIds.push(...page.viewers.map((v) => v.userId))
      cursor = page.nextCursor
    } while (cursor !== null)
    await events.publish('rejoin_required', { stageArn: arn, userIds, timestamp: new Date(now).toISOString() })
    logger.info('stage draining', { stageArn: arn, viewers: userIds.length })
    return userIds
  }

  /** Deletes a drained stage (scale-down). */
  async retireStage(arn: string): Promise<void> {
    await this.destroyStage(arn)
    this.deps.counters.add('ScaleDowns', 1)
  }

  /** Removes viewers silent for longer than `timeoutMs`, recording their watch time. */
  async sweepSilentViewers(timeoutMs: number): Promise<number> {
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

  /** Scale-up ahead of demand; false when another instance is creating one right now. */
  async createStageAhead(): Promise<boolean> {
    return this.withCreateLock(async () => {
      const stages = await this.deps.store.listStages()
      if (stages.length < this.settings.maxStages) await this.addStage(undefined, {})
    })
  }

  private async destroyStage(arn: string): Promise<{ stageArn: string; removedViewers: number }> {
    await this.deps.provider.deleteStage(arn)
    const removed = (await this.deps.store.removeStage(arn, this.deps.clock.now())) ?? []
    await this.deps.events.publish('stage_deleted', { stageArn: arn, timestamp: new Date(this.deps.clock.now()).toISOString() })
    this.deps.logger.info('stage deleted', { stageArn: arn, removedViewers: removed.length })
    return { stageArn: arn, removedViewers: removed.length }
  }

  async stats(): Promise<FleetStats> {
    const [stages, publisher] = await Promise.all([this.deps.store.listStages(), this.deps.store.getPublisherState()])
    return computeStats(stages, publisher, this.settings.stageCapacity)
  }

  async publisherState(): Promise<PublisherState> {
    return this.deps.store.getPublisherState()
  }

  async registerRelay(input: { serverId: string; ipAddress: string; port: number }): Promise<StageView[]> {
    const now = this.deps.clock.now()
    await this.deps.store.putRelay({ ...input, publisherActive: false, connectedStages: [], registeredAt: now, lastHeartbeatAt: now })
    this.deps.logger.info('relay registered', input)
    return this.listStages()
  }

  async relayHeartbeat(input: { serverId: string; publisherActive: boolean; connectedStages: string[] }): Promise<void> {
    const now = this.deps.clock.now()
    const known = await this.deps.store.heartbeatRelay(input.serverId, { publisherActive: input.publisherActive, connectedStages: input.connectedStages, lastHeartbeatAt: now })
    if (!known) throw new AppError('NOT_FOUND', `relay ${input.serverId} is not registered; call POST /api/media/register first`)
    const previous = await this.deps.store.setPublisherState({ active: input.publisherActive, updatedAt: now, serverId: input.serverId })
    if (previous.active !== input.publisherActive) {
      await this.deps.events.publish('publisher_state', { active: input.publisherActive, timestamp: new Date(now).toISOString() })
    }
  }

  async listRelays(): Promise<RelayRecord[]> {
    return this.deps.store.listRelays()
  }

  /**
   * No seat anywhere: make one. True once a seat exists (a stage was added here or by another
   * instance); false when MAX_STAGES is reached. Concurrent requests of this process share one wait.
   */
  private stageForDemand(): Promise<boolean> {
    this.demand ??= this.waitForSeat().finally(() => {
      this.demand = null
    })
    return this.demand
  }

  private async waitForSeat(): Promise<boolean> {
    const sleep = this.deps.sleep ?? Bun.sleep
    for (let poll = 0; poll < CREATE_WAIT_MAX_POLLS; poll++) {
      const stages = await this.deps.store.listStages()
      if (stages.some((s) => s.status === 'active' && s.viewerCount < this.settings.stageCapacity)) return true
      if (stages.length >= this.settings.maxStages) return false
      const created = await this.withCreateLock(async () => {
        // Re-check under the lock: the previous holder may just have added the stage we need.
        const now = await this.deps.store.listStages()
        if (!now.some((s) => s.status === 'active' && s.viewerCount < this.settings.stageCapacity) && now.length < this.settings.maxStages) await this.addStage(undefined, {})
      })
      if (!created) await sleep(CREATE_WAIT_POLL_MS)
    }
    return false
  }

  /** Runs `create` holding the fleet-wide creation lock; false when another holder has it. */
  private async withCreateLock(create: () => Promise<void>): Promise<boolean> {
    const { store, clock, settings } = this.deps
    // A holder per acquisition: the lease lets its holder re-acquire, and this must exclude the
    // same instance's autoscaler and request path from each other too.
    const holder = `${settings.instanceId}:${randomAlphanumeric(8)}`
    if (!(await store.acquireLease(CREATE_LOCK, holder, CREATE_LOCK_MS, clock.now()))) return false
    const started = performance.now()
    try {
      await create()
    } finally {
      // Spacing creations fleet-wide keeps several instances together under IVS's 5 TPS.
      const left = settings.stageCreateSpacingMs - (performance.now() - started)
      if (left > 0) await (this.deps.sleep ?? Bun.sleep)(left)
      await store.releaseLease(CREATE_LOCK, holder)
    }
    return true
  }

  /** Runs `task` under the creation lock, waiting for it (bounded) when another holder has it. */
  private async underCreateLock<T>(task: () => Promise<T>): Promise<T> {
    const sleep = this.deps.sleep ?? Bun.sleep
    for (let poll = 0; poll < CREATE_WAIT_MAX_POLLS; poll++) {
      let result: T | undefined
      if (await this.withCreateLock(async () => void (result = await task()))) return result as T
      await sleep(CREATE_WAIT_POLL_MS)
    }
    throw new AppError('UPSTREAM_UNAVAILABLE', 'the stage-creation lock stayed busy; retry shortly')
  }

  /** Creates at the provider, then records; if the fleet filled up meanwhile the new stage is deleted again. */
  private async addStage(name: string | undefined, tags: Record<string, string>): Promise<StageView | null> {
    const { store, provider, clock, settings } = this.deps
    const seq = await store.nextStageSeq()
    const created = await provider.createStage({ name: name ?? `${settings.fleetId}-${seq}`, tags: { ...tags, [FLEET_TAG]: settings.fleetId } })
    const added = await store.addStage(this.record(created, { isMaster: false, seq }), settings.maxStages)
    if (!added) {
      await provider.deleteStage(created.arn)
      return null
    }
    this.deps.counters.add('ScaleUps', 1)
    await this.deps.events.publish('stage_created', { stageArn: created.arn, timestamp: new Date(clock.now()).toISOString() })
    this.deps.logger.info('stage created', { stageArn: created.arn, seq })
    return store.getStage(created.arn)
  }

  private record(stage: ProviderStage, extra: { isMaster: boolean; seq: number }): StageRecord {
    return {
      arn: stage.arn,
      name: stage.name,
      isMaster: extra.isMaster,
      status: 'active',
      seq: extra.seq,
      createdAt: this.deps.clock.now(),
      drainingSince: null,
      tags: stage.tags,
      endpoints: stage.endpoints,
    }
  }
}
