import { describeError } from '../errors'
import type { StageView, Store } from '../store/types'
import { realSchedule, type Schedule } from '../ticker'
import { FollowUps } from './follow-ups'
import { assignOrigins, replicateFromMaster } from './origin-assignment'
import { ALWAYS, ReplicationCalls, type ReplicationCallsDeps, RoundStopped } from './replication-calls'
import { pickSources } from './replication-observe'
import type { Replication } from './replication-plan'
import { hybridHint, NOTHING, type RoundContext, type RoundInput, type RoundSummary, readRound, runRound, spacingMs, writeView } from './replication-round'
import { emptyView, markHooked, waitsForHandover, withoutStage } from './replication-view'
import type { FanoutMode, ReplicationSettings } from './settings'
import type { LockHold, Ran, StoreLock } from './store-lock'

export interface ReplicationServiceDeps extends ReplicationCallsDeps {
  store: Store
  /** The fan-out's lock (a store lease, "fanout"): every read-modify-write of store.fanout, on any instance, holds it. */
  lock: Pick<StoreLock, 'waitFor'>
  /** When a new stage is asked again (followUp); real timers unless a test runs them. */
  schedule?: Schedule
}

export type { RoundSummary } from './replication-round'

/** What the leader's loop says with a tick. */
export interface LeaderTick {
  /** This instance has just become leader: its next round reads IVS thoroughly (until one completes). */
  thorough?: boolean
  /** Whether it still leads, asked before each IVS call: the round stops once it does not. */
  leading?: () => boolean
}

/**
 * FANOUT_MODE replicate and hybrid (DESIGN §7): the leader keeps the wanted participant
 * replications true against IVS. Each round it reads IVS (observeFanout), plans (origin-assignment.ts,
 * replication-plan.ts), starts and stops (replication-calls.ts), and writes what it saw to the store
 * (store.fanout) for every instance's stats and for the next leader. A new leader rebuilds from IVS's
 * own replica lists. Rounds come every `intervalMs`, every `pendingIntervalMs` while something is
 * missing, beside the leader's loop (which does not wait for them). StageService calls the hooks on
 * whichever instance: a new stage gets its replica right after it is created, a deleted stage's are
 * handed over and stopped before it goes. Rounds and hooks read, plan and write the view holding one
 * store lease ("fanout") across the fleet, so none plans on a view another is changing.
 */
export class ReplicationService {
  private nextAt = Number.NEGATIVE_INFINITY
  private readonly calls: ReplicationCalls
  private queue: Promise<unknown> = Promise.resolve()
  private toldBlind = false
  /** Stages this instance's hook prepared (stageCreated), when: not another instance's to start. */
  private readonly hooked = new Map<string, number>()
  private ticking: Promise<RoundSummary> | null = null
  /** A thorough round is owed (this instance became leader) until one completes. */
  private owedThorough = false
  /** New stages asked again (followUp). */
  private readonly followUps: FollowUps

  constructor(
    private readonly deps: ReplicationServiceDeps,
    private readonly settings: ReplicationSettings,
  ) {
    this.calls = new ReplicationCalls(deps, settings)
    this.followUps = new FollowUps(deps.schedule ?? realSchedule)
  }

  get mode(): FanoutMode {
    return this.settings.mode
  }

  /** What this instance remembers between rounds (bounded, also where no round runs). */
  get memory(): { hooked: number; waits: number; told: number } {
    return { hooked: this.hooked.size, ...this.calls.retries.size }
  }

  /**
   * The leader, on each loop tick (the loop does not wait): a round when one is due, one at a time (a
   * tick during a round shares it). A round another instance's hook keeps waiting is asked again next
   * tick. Never rejects: a failed round is logged and tried again next tick.
   */
  tick(leader: LeaderTick = {}): Promise<RoundSummary> {
    if (leader.thorough) this.owedThorough = true
    if (this.ticking) return this.ticking
    if (!this.owedThorough && this.deps.clock.now() < this.nextAt) return Promise.resolve(NOTHING)
    this.ticking = this.leaderRound(leader.leading ?? ALWAYS).finally(() => {
      this.ticking = null
    })
    return this.ticking
  }

  /** One round now, without a leader's lease (tests, tools); nothing when the fan-out lock stayed busy. */
  async reconcile(thorough = false): Promise<RoundSummary> {
    return (await this.twoStepRound(thorough, ALWAYS))?.value ?? NOTHING
  }

  /**
   * Where the relay publishes (GET /api/media/stages): every stage in relay mode, the origins in
   * hybrid (the leader's own assignment, hinted as its rounds are), none in replicate.
   */
  async relayStages(): Promise<StageView[]> {
    const stages = await this.deps.store.listStages()
    if (this.mode === 'relay') return stages
    if (this.mode === 'replicate') return []
    const origins = assignOrigins(stages, await hybridHint(this.deps.store, stages, await this.deps.store.fanout.get())).origins
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
   * origin). Never throws: what fails here (or waits past the lock's few seconds) the leader's next round does.
   */
  async stageCreated(stage: StageView): Promise<boolean> {
    if (this.mode === 'relay') return true
    const { clock, logger } = this.deps
    markHooked(this.hooked, stage.arn, clock.now())
    this.calls.retries.prune()
    try {
      const ran = await this.locked((hold) => this.prepare(stage.arn, hold))
      if (ran) {
        if (ran.value.waiting) this.followUp(stage.arn)
        return ran.value.relay
      }
      logger.warn("the fan-out is busy: a new stage's feed is left to the leader's next round", { stageArn: stage.arn })
    } catch (error) {
      logger.warn("cannot prepare a new stage's feed now; the leader's next round does", { stageArn: stage.arn, error: describeError(error) })
    }
    return this.relayFeeds(stage.arn).catch(() => false)
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
   * Deletes a stage (`remove`: DeleteStage and its record) holding the fan-out lock, so no round
   * plans on it meanwhile. Hybrid: the stages it feeds are handed over first (a round with it as
   * draining: each one's new replica started, then its old one stopped). Then the replications still
   * into and out of it are stopped (IVS would end them too, a moment later). A lock that stays busy
   * leaves all that to the leader's next round (logged); the stage is deleted either way.
   */
  async stageDeleting(arn: string, remove: () => Promise<void>): Promise<void> {
    const ran = await this.locked(async (hold) => {
      await this.letGo(arn, hold)
      await remove()
    })
    if (ran) return
    this.deps.logger.warn("the fan-out is busy: a deleted stage's stages are handed over by the leader's next round", { stageArn: arn })
    await remove()
  }

  /** `work` holding the fan-out lock (at most the lock's wait), after this process's earlier work; null when the lock stayed busy. */
  private locked<T>(work: (hold: LockHold) => Promise<T>): Promise<Ran<T>> {
    return this.deps.lock.waitFor((hold) => this.serial(() => work(hold)))
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work)
    this.queue = run.catch(() => {})
    return run
  }

  private async leaderRound(leading: () => boolean): Promise<RoundSummary> {
    const thorough = this.owedThorough
    let ran: Ran<RoundSummary>
    try {
      ran = await this.twoStepRound(thorough, leading)
    } catch (error) {
      // Logged here, once (every tick during the round shares its promise); the next tick tries again.
      if (error instanceof RoundStopped) this.deps.logger.info('replication round stopped part-way: this instance no longer leads', { thorough })
      else this.deps.logger.warn('replication round failed; tried again next tick', { error: describeError(error) })
      return NOTHING
    }
    if (ran && thorough) this.owedThorough = false
    return ran?.value ?? NOTHING
  }

  /**
   * A round in two steps: IVS read first, without the fan-out lock (seconds at hundreds of stages,
   * during which hooks go on), then under the lock the plan and its calls, on those reads unless the
   * store changed what they had to ask (runRound). Each step's calls only while `leading`, the second's
   * only while the lock is held. Null when the lock stayed busy for its whole wait.
   */
  private async twoStepRound(thorough: boolean, leading: () => boolean): Promise<Ran<RoundSummary>> {
    let hold: LockHold | null = null
    const calls = this.calls.scoped(() => (hold === null || hold.held) && leading())
    const context = this.context(calls)
    const earlier = await readRound(context, { thorough })
    calls.check()
    const ran = await this.locked(async (held) => {
      hold = held
      calls.check()
      const { summary, nextAt } = await runRound(context, { thorough }, earlier)
      this.nextAt = nextAt
      return summary
    })
    // The lock stayed busy: the reads were spent in vain, and the next round waits as long as after a round.
    if (!ran) this.nextAt = this.deps.clock.now() + spacingMs(context)
    return ran
  }

  /**
   * The hook's work for a new stage, under the lock: its replica, and the view with it. `relay`: the
   * relay publishes into it (a hybrid origin); `waiting`: it is to be a replica, but its origin had
   * no source yet. Nothing to do for a stage gone, or fed already (a follow-up after a round).
   */
  private async prepare(stageArn: string, hold: LockHold): Promise<{ relay: boolean; waiting: boolean }> {
    const { store } = this.deps
    const calls = this.calls.scoped(() => hold.held)
    const [stages, view, publisher] = await Promise.all([store.listStages(), store.fanout.get(), store.getPublisherState()])
    const assignment = this.mode === 'replicate' ? replicateFromMaster(stages) : assignOrigins(stages, await hybridHint(this.deps.store, stages, view))
    const relay = assignment.origins.includes(stageArn) && this.mode === 'hybrid'
    const origin = assignment.originOf[stageArn]
    const base = view?.mode === this.mode ? view : emptyView(this.mode)
    if (!stages.some((s) => s.arn === stageArn && s.status === 'active') || base.replications.some((r) => r.destinationStageArn === stageArn)) {
      return { relay, waiting: false }
    }
    const participants = origin === undefined ? null : await calls.reads().participants(origin)
    const wanted: Replication[] =
      origin === undefined || participants === null
        ? []
        : pickSources(this.mode, participants, publisher.serverId).sources.map((participantId) => ({
            sourceStageArn: origin,
            destinationStageArn: stageArn,
            participantId,
          }))
    const started: Replication[] = []
    for (const r of wanted) if (await calls.start(r)) started.push(r)
    const feeds = { ...base.feeds }
    if (started[0]) feeds[stageArn] = { kind: 'replica', originStageArn: started[0].sourceStageArn }
    await writeView({ store, calls }, { ...base, ...assignment, feeds, replications: [...base.replications, ...started], updatedAt: this.deps.clock.now() })
    // Waiting: a hybrid replica stage whose origin shows no source while a relay feeds (not a refusal: the retry book has those).
    return { relay, waiting: participants !== null && wanted.length === 0 && publisher.serverId !== null }
  }

  /**
   * Hybrid: a new stage whose origin had no source yet (the relay still joining that new origin) is
   * asked again shortly (FOLLOW_UPS_MS), not left until the leader's next round (at hundreds of stages
   * tens of seconds away). Replicate mode waits for the round: a broadcaster not live yet is ordinary there.
   */
  private followUp(stageArn: string): void {
    if (this.mode !== 'hybrid') return
    this.followUps.start(async () => {
      try {
        const ran = await this.locked((hold) => this.prepare(stageArn, hold))
        return !ran || ran.value.waiting
      } catch (error) {
        this.deps.logger.warn("cannot prepare a new stage's feed now; the leader's next round does", { stageArn, error: describeError(error) })
        return false
      }
    })
  }

  /** Cancels the follow-ups still waiting (shutdown). */
  close = (): void => this.followUps.close()

  /** The hook's work before a stage is deleted, under the lock: its stages handed over, its replications stopped, the view without it. */
  private async letGo(arn: string, hold: LockHold): Promise<void> {
    const { store, logger, clock } = this.deps
    if (this.mode === 'hybrid')
      await this.round({ thorough: false, leaving: arn, proceed: () => hold.held }).catch((error) =>
        logger.warn("cannot hand a deleted stage's stages over first", { stageArn: arn, error: describeError(error) }),
      )
    try {
      const view = await store.fanout.get()
      if (!view) return
      const calls = this.calls.scoped(() => hold.held)
      for (const r of view.replications) if (r.sourceStageArn === arn || r.destinationStageArn === arn) await calls.stop({ ...r, reason: 'stage-deleted' })
      await writeView({ store, calls }, withoutStage(view, arn, clock.now()))
    } catch (error) {
      logger.warn('cannot record the fan-out', { stageArn: arn, error: describeError(error) })
    }
  }

  /** A round in one step (its caller holds the lock), its calls made only while `proceed` says so (before each IVS call and the view's write). */
  private async round(input: RoundInput & { proceed: () => boolean }): Promise<RoundSummary> {
    const { summary, nextAt } = await runRound(this.context(this.calls.scoped(input.proceed)), input)
    this.nextAt = nextAt
    return summary
  }

  private context(calls: ReplicationCalls): RoundContext {
    const { store, clock, logger, counters } = this.deps
    const blind = (stages: number) => {
      if (this.toldBlind) return
      this.toldBlind = true
      logger.info(`local stages carry no media: FANOUT_MODE=${this.mode} replicates nothing (participant replication needs IVS)`, { stages })
    }
    return { mode: this.mode, settings: this.settings, store, clock, logger, counters, calls, hooked: this.hooked, blind }
  }
}
