import type { Clock } from '../clock'
import { describeError } from '../errors'
import type { StageProvider } from '../ivs/types'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { FanoutRecord } from '../store/fanout'
import type { StageView, Store } from '../store/types'
import type { EventPublisher } from './events'
import { assignOrigins, type OriginAssignment, replicateFromMaster } from './origin-assignment'
import { countedReads, OperationTally, observeFanout, pickSources } from './replication-observe'
import { type PlannedStop, pick, planReplications, type Replication, replicationKey, wantedReplications } from './replication-plan'
import { RetryBook, refusalReason } from './replication-retry'
import { emptyView, endedSince, feedsOf, hasSource, hybridView, observedOrigins, settlingStages, waitsForHandover, withoutStage } from './replication-view'
import type { FanoutMode, ReplicationSettings } from './settings'

export interface ReplicationServiceDeps {
  store: Store
  provider: Pick<StageProvider, 'participants' | 'startReplication' | 'stopReplication' | 'listReplicas'>
  events: EventPublisher
  counters: Counters
  clock: Clock
  logger: Logger
}

/** What one round did (tests and logs). */
export interface RoundSummary {
  started: Replication[]
  stopped: PlannedStop[]
  /** Something is still missing: the next round comes sooner. */
  pending: boolean
}

const same = (a: Replication) => (b: Replication) => replicationKey(a) === replicationKey(b)
const NOTHING: RoundSummary = { started: [], stopped: [], pending: false }

/**
 * FANOUT_MODE replicate and hybrid (DESIGN §7): the leader keeps the wanted participant
 * replications true against IVS. Each round it reads IVS (observeFanout), plans (origin-assignment.ts,
 * replication-plan.ts), starts and stops, and writes what it saw to the store (store.fanout) for
 * every instance's stats and for the next leader. A leader new to the job rebuilds from IVS's own
 * replica lists. Rounds come every `intervalMs`, every `pendingIntervalMs` while something is
 * missing; refused starts are retried calmly (RetryBook). StageService calls the hooks: a new stage
 * gets its replica right after it is created, a stage's replications are stopped before it is deleted.
 */
export class ReplicationService {
  private nextAt = Number.NEGATIVE_INFINITY
  private lastTickAt: number | null = null
  private readonly retries: RetryBook
  private queue: Promise<unknown> = Promise.resolve()
  private toldBlind = false
  /** Stages this instance's hook prepared (stageCreated): not another instance's to start. */
  private readonly hooked = new Set<string>()
  /** IVS calls this round, by operation. */
  private ops = new OperationTally()

  constructor(
    private readonly deps: ReplicationServiceDeps,
    private readonly settings: ReplicationSettings,
  ) {
    this.retries = new RetryBook(deps.clock, settings)
  }

  get mode(): FanoutMode {
    return this.settings.mode
  }

  /** The leader, on each loop tick: a round when one is due. A tick after a gap (new to the job) reads IVS thoroughly. */
  async tick(): Promise<RoundSummary> {
    const now = this.deps.clock.now()
    const fresh = this.lastTickAt === null || now - this.lastTickAt > this.settings.intervalMs
    this.lastTickAt = now
    if (!fresh && now < this.nextAt) return NOTHING
    return this.reconcile(fresh)
  }

  /** One round now (rounds and hooks of this process never overlap). */
  reconcile(thorough = false): Promise<RoundSummary> {
    return this.serial(() => this.round(thorough))
  }

  /**
   * Where the relay publishes (GET /api/media/stages): every stage in relay mode, the origins in
   * hybrid, none in replicate (the broadcaster publishes into the master itself).
   */
  async relayStages(): Promise<StageView[]> {
    const stages = await this.deps.store.listStages()
    if (this.mode === 'relay') return stages
    if (this.mode === 'replicate') return []
    const origins = assignOrigins(stages, hybridView(await this.deps.store.fanout.get())).origins
    return stages.filter((s) => origins.includes(s.arn))
  }

  /** Whether the relay publishes into the stage (a relay's publish token is refused otherwise). */
  async relayFeeds(stageArn: string): Promise<boolean> {
    if (this.mode === 'relay') return true
    return (await this.relayStages()).some((s) => s.arn === stageArn)
  }

  /**
   * Right after a stage is recorded (before stage_created): its replica is started now, so viewers
   * sent there find the broadcaster. True when the relay publishes into it (relay mode, a hybrid
   * origin). Never throws: what fails here the leader's next round does.
   */
  async stageCreated(stage: StageView): Promise<boolean> {
    if (this.mode === 'relay') return true
    return this.serial(async () => {
      this.hooked.add(stage.arn)
      try {
        const { store, provider } = this.deps
        const [stages, view, publisher] = await Promise.all([store.listStages(), store.fanout.get(), store.getPublisherState()])
        const assignment = this.mode === 'replicate' ? replicateFromMaster(stages) : assignOrigins(stages, hybridView(view) ?? (await this.coldHint(stages)))
        const origin = assignment.originOf[stage.arn]
        const started: Replication[] = []
        const participants = origin === undefined ? null : await provider.participants(origin)
        if (origin !== undefined && participants !== null) {
          for (const participantId of pickSources(this.mode, participants, publisher.serverId).sources) {
            const r = { sourceStageArn: origin, destinationStageArn: stage.arn, participantId }
            if (await this.start(r)) started.push(r)
          }
        }
        const base = view?.mode === this.mode ? view : emptyView(this.mode)
        const feeds = { ...base.feeds }
        if (started[0]) feeds[stage.arn] = { kind: 'replica', originStageArn: started[0].sourceStageArn }
        await store.fanout.put({ ...base, ...assignment, feeds, replications: [...base.replications, ...started], updatedAt: this.deps.clock.now() })
        return assignment.origins.includes(stage.arn) && this.mode === 'hybrid'
      } catch (error) {
        this.deps.logger.warn("cannot prepare a new stage's feed now; the leader's next round does", { stageArn: stage.arn, error: describeError(error) })
        return false
      }
    })
  }

  /**
   * Hybrid: a draining origin is not deleted while the leader's rounds hand its stages over (one may
   * become an origin the relay has not joined yet), for at most 30 s: sooner leaves them without a feed.
   */
  async holdsStages(stage: StageView): Promise<boolean> {
    if (this.mode !== 'hybrid') return false
    return waitsForHandover(stage, await this.deps.store.fanout.get(), await this.deps.store.listStages(), this.deps.clock.now())
  }

  /**
   * Before a stage is deleted. Hybrid: the stages it feeds are handed over first (a round with it as
   * draining: each one's new replica started, then its old one stopped). Then the replications still
   * into and out of it are stopped (IVS would end them too, a moment later).
   */
  async stageDeleting(arn: string): Promise<void> {
    await this.serial(async () => {
      const { store, logger } = this.deps
      if (this.mode === 'hybrid')
        await this.round(false, arn).catch((error) =>
          logger.warn("cannot hand a deleted stage's stages over first", { stageArn: arn, error: describeError(error) }),
        )
      const view = await store.fanout.get().catch(() => null)
      if (!view) return
      for (const r of view.replications) if (r.sourceStageArn === arn || r.destinationStageArn === arn) await this.stop({ ...r, reason: 'stage-deleted' })
      await store.fanout
        .put(withoutStage(view, arn, this.deps.clock.now()))
        .catch((error) => logger.warn('cannot record the fan-out', { error: describeError(error) }))
    })
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work)
    this.queue = run.catch(() => {})
    return run
  }

  /** `leaving`: a stage about to be deleted, planned as draining (it feeds nothing). */
  private async round(thorough: boolean, leaving?: string): Promise<RoundSummary> {
    const { store, provider, clock, logger } = this.deps
    const mode = this.mode
    if (mode === 'relay') return this.relayRound(await store.fanout.get())
    const [listed, view, publisher] = await Promise.all([store.listStages(), store.fanout.get(), store.getPublisherState()])
    const stages = listed.map((s) => (s.arn === leaving ? { ...s, status: 'draining' as const } : s))
    let assignment: OriginAssignment
    let hint: OriginAssignment | null = null
    if (mode === 'replicate') assignment = replicateFromMaster(stages)
    else {
      hint = hybridView(view) ?? (await this.coldHint(stages))
      assignment = assignOrigins(stages, hint)
    }
    this.ops = new OperationTally()
    const observed = await observeFanout(countedReads(provider, this.ops), {
      mode,
      origins: assignment.origins,
      known: view?.replications ?? [],
      feedingServerId: publisher.serverId,
      thorough: thorough || view === null,
    })
    if (observed.blind.length > 0 && !this.toldBlind) {
      this.toldBlind = true
      logger.info(`local stages carry no media: FANOUT_MODE=${mode} replicates nothing (participant replication needs IVS)`, { stages: observed.blind.length })
    }
    // Hybrid: the stages IVS shows replicated keep their origin where the kept assignment says nothing (a leader that lost the store).
    if (mode === 'hybrid')
      assignment = assignOrigins(stages, { origins: assignment.origins, originOf: { ...observedOrigins(observed, assignment), ...hint?.originOf } })

    const plan = planReplications({
      mode,
      stageArns: stages.map((s) => s.arn),
      assignment,
      sources: observed.sources,
      relayLive: observed.relayLive,
      running: observed.running,
      holdOff: this.retries.heldOff(),
      settling: settlingStages(stages, this.hooked, clock.now()),
    })
    this.retries.keepOnly(wantedReplications(assignment, observed.sources))
    const stopped: PlannedStop[] = []
    for (const s of plan.stops) if (await this.stop(s)) stopped.push(s)
    const started: Replication[] = []
    for (const r of plan.starts) if (await this.start(r)) started.push(r)
    let handedOver = 0
    for (const h of plan.handovers) {
      if (!h.after || !started.some(same(h.after))) continue
      if (await this.stop(h)) stopped.push(h)
      handedOver++
    }
    const active = [...observed.running.filter((r) => !stopped.some(same(r))), ...started]
    // replication_stopped for those IVS ended by itself (the source gone past its reconnect window) since the last round.
    for (const r of endedSince(view, observed, active, stopped, stages)) {
      this.deps.counters.add('ReplicationStops', 1, { reason: 'ended' })
      await this.deps.events.publish('replication_stopped', { ...pick(r), reason: 'ended', timestamp: new Date(clock.now()).toISOString() })
    }

    const now = clock.now()
    const feeds = feedsOf(mode, stages, assignment, observed, active)
    await store.fanout.put({ mode, ...assignment, feeds, replications: active, updatedAt: now })
    const previousOrigins = hybridView(view)?.origins ?? null
    if (mode === 'hybrid' && (previousOrigins === null || previousOrigins.join() !== assignment.origins.join())) {
      await this.deps.events.publish('relay_stages', { stageArns: assignment.origins, timestamp: new Date(now).toISOString() })
    }
    const pending =
      started.length < plan.starts.length ||
      plan.deferred.length > 0 ||
      handedOver < plan.handovers.length ||
      stages.some((s) => feeds[s.arn] === undefined && hasSource(s.arn, assignment, observed)) ||
      // Hybrid: the relay is up but not yet in every origin (it was just told of a new one).
      (observed.relayLive.length > 0 && assignment.origins.some((o) => !observed.relayLive.includes(o)))
    const spacing = (this.ops.most() / this.settings.operationsPerSecond) * 1000
    this.nextAt = now + Math.max(spacing, pending ? this.settings.pendingIntervalMs : this.settings.intervalMs)
    return { started, stopped, pending }
  }

  /** Relay mode: replications left by an earlier mode are stopped, once; IVS is not read otherwise. */
  private async relayRound(view: FanoutRecord | null): Promise<RoundSummary> {
    this.nextAt = this.deps.clock.now() + this.settings.intervalMs
    if (view?.mode === 'relay' && view.replications.length === 0) return NOTHING
    const stopped: PlannedStop[] = []
    for (const r of view?.replications ?? []) if (await this.stop({ ...r, reason: 'fanout-mode' })) stopped.push({ ...r, reason: 'fanout-mode' })
    await this.deps.store.fanout.put({ ...emptyView('relay'), updatedAt: this.deps.clock.now() })
    return { started: [], stopped, pending: false }
  }

  /** A hybrid fleet with no kept assignment: the master and the stages a live relay publishes into are its origins. */
  private async coldHint(stages: readonly StageView[]): Promise<OriginAssignment> {
    const reported = new Set((await this.deps.store.listRelays()).filter((r) => r.offlineSince === null).flatMap((r) => r.stageArns))
    return { origins: stages.filter((s) => s.isMaster || reported.has(s.arn)).map((s) => s.arn), originOf: {} }
  }

  private async start(r: Replication): Promise<boolean> {
    const { provider, counters, events, logger, clock } = this.deps
    this.ops.add('StartParticipantReplication')
    try {
      await provider.startReplication({ ...pick(r), reconnectWindowSeconds: this.settings.reconnectWindowSeconds })
    } catch (error) {
      const reason = refusalReason(error)
      counters.add('ReplicationRefusals', 1, { reason })
      if (this.retries.refused(r)) {
        if (reason === 'not-publishing') logger.info('the participant is not publishing yet: its replication is asked for again, calmly', { ...pick(r) })
        else logger.warn('IVS refused a replication; asked for again later', { ...pick(r), reason, error: describeError(error) })
      }
      return false
    }
    this.retries.succeeded(r)
    counters.add('ReplicationStarts', 1)
    await events.publish('replication_started', { ...pick(r), timestamp: new Date(clock.now()).toISOString() })
    logger.info('replication started', { ...pick(r) })
    return true
  }

  private async stop(s: PlannedStop): Promise<boolean> {
    const { provider, counters, events, logger, clock } = this.deps
    this.ops.add('StopParticipantReplication')
    try {
      await provider.stopReplication(pick(s))
    } catch (error) {
      logger.warn('cannot stop a replication; tried again next round', { ...pick(s), reason: s.reason, error: describeError(error) })
      return false
    }
    counters.add('ReplicationStops', 1, { reason: s.reason })
    await events.publish('replication_stopped', { ...pick(s), reason: s.reason, timestamp: new Date(clock.now()).toISOString() })
    logger.info('replication stopped', { ...pick(s), reason: s.reason })
    return true
  }
}
