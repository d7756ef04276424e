import type { Clock } from '../clock'
import { AppError, notFound } from '../errors'
import type { ProviderStage, StageProvider } from '../ivs/types'
import type { Logger } from '../log'
import type { Counters } from '../metrics/counters'
import type { StageView, Store } from '../store/types'
import { findRoom, fleetFull, REPLICAS_PER_PARTICIPANT, type Refusal, STAGE_QUOTA_NOTICE, type StageQuotaNotice, stageQuotaReached } from './admission'
import type { CreateLock } from './create-lock'
import type { EventPublisher } from './events'
import { FLEET_TAG, FleetRecords, type Restored, stageRecord } from './records'
import type { StageSettings } from './settings'

export { FLEET_TAG, MasterStageMissing, type Restored } from './records'

/** After IVS refused a stage, nobody in the fleet asks it for one for this long. */
const STAGE_QUOTA_NOTICE_MS = 60_000

/** Whether room can be made, and if not why and when to ask again. */
export type RoomOutcome = { ok: true } | { ok: false; refusal: Refusal }

export interface StageServiceDeps {
  store: Store
  provider: StageProvider
  lock: CreateLock
  events: EventPublisher
  counters: Counters
  clock: Clock
  logger: Logger
  /** FANOUT_MODE replicate and hybrid (ReplicationService); without it every stage is the relay's. */
  fanout?: StageFanout
}

/** The fan-out's part in a stage's life. */
export interface StageFanout {
  /** Right after the stage is recorded, before stage_created: starts its replica; true when the relay publishes into it. */
  stageCreated(stage: StageView): Promise<boolean>
  /** Deletes the stage (`remove`: DeleteStage and its record), its replications handed over and stopped first, so no round plans on it meanwhile. */
  stageDeleting(arn: string, remove: () => Promise<void>): Promise<void>
}

/**
 * The lifecycle of the fleet's stages: the master, re-adoption after a restart, create, rename,
 * delete, drain and retire, and new stages ahead of (or on) demand. Creations go through the
 * fleet-wide create lock.
 */
export class StageService {
  private readonly records: FleetRecords
  private roomWait: Promise<RoomOutcome> | null = null

  constructor(
    private readonly deps: StageServiceDeps,
    private readonly settings: StageSettings,
  ) {
    this.records = new FleetRecords(deps, settings)
  }

  /**
   * Makes sure the master stage exists (the configured one, the one the store remembers, or a new
   * one) and re-adopts this fleet's stages from the provider.
   */
  start(): Promise<StageView> {
    return this.records.start()
  }

  /** The leader, each tick: puts back the master and the fleet's stages when the store lost them. */
  restoreIfLost(listed: readonly StageView[]): Promise<Restored | null> {
    return this.records.restoreIfLost(listed)
  }

  adoptFleetStages(): Promise<{ adopted: string[]; dropped: string[] }> {
    return this.records.adoptFleetStages()
  }

  master(): Promise<StageView> {
    return this.records.master()
  }

  list(): Promise<StageView[]> {
    return this.deps.store.listStages()
  }

  async require(arn: string): Promise<StageView> {
    const stage = await this.deps.store.getStage(arn)
    if (!stage) throw notFound(`stage ${arn}`)
    return stage
  }

  async create(input: { name?: string; tags?: Record<string, string> }): Promise<StageView> {
    if (input.tags && FLEET_TAG in input.tags) {
      throw new AppError('VALIDATION_ERROR', `tags must not set ${FLEET_TAG}: the fleet sets it`, { field: 'tags' })
    }
    const { maxStages, ceiling } = this.settings
    const full = () =>
      new AppError(
        'CONFLICT',
        ceiling === 'replication-quota'
          ? `${maxStages} stages already exist, all FANOUT_MODE=replicate can feed (IVS replicates one participant into at most ${REPLICAS_PER_PARTICIPANT} stages)`
          : `MAX_STAGES (${maxStages}) stages already exist`,
        // The ceiling's name, as a refused viewer's 503 says it (fleet/admission.ts).
        { reason: ceiling ?? 'max-stages' },
      )
    if ((await this.deps.store.listStages()).length >= maxStages) throw full()
    const created = await this.addStage(input.name, input.tags ?? {})
    if (!created) throw full()
    return created
  }

  async rename(arn: string, name: string): Promise<StageView> {
    await this.require(arn)
    await this.deps.provider.updateStage(arn, { name })
    const updated = await this.deps.store.updateStage(arn, { name })
    if (!updated) throw notFound(`stage ${arn}`)
    return updated
  }

  async delete(arn: string): Promise<{ stageArn: string; removedViewers: number }> {
    const stage = await this.require(arn)
    if (stage.isMaster) throw new AppError('CONFLICT', 'the master stage cannot be deleted')
    return this.destroy(arn)
  }

  /** Drain: no new viewers; the ones there are told to rejoin (WebSocket and their next heartbeat). */
  async drain(arn: string): Promise<string[]> {
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
  async retire(arn: string): Promise<void> {
    await this.destroy(arn)
    this.deps.counters.add('ScaleDowns', 1)
  }

  /** Scale-up ahead of demand; false when another holder of the create lock is creating right now. */
  async createAhead(): Promise<boolean> {
    if (await this.stageQuota()) return false
    return this.deps.lock.tryRun(async () => {
      if ((await this.deps.store.listStages()).length < this.settings.maxStages) await this.addStage(undefined, {})
    })
  }

  /**
   * No seat anywhere (but on `exclude`d stages): make one. True once a seat exists (a stage was
   * added here or by another instance); false when MAX_STAGES is reached or the create lock stayed
   * busy. Concurrent callers of this process that exclude nothing share one wait.
   */
  makeRoom(exclude: readonly string[] = []): Promise<RoomOutcome> {
    if (exclude.length > 0) return this.waitForRoom(exclude)
    this.roomWait ??= this.waitForRoom([]).finally(() => {
      this.roomWait = null
    })
    return this.roomWait
  }

  /** The account's stage quota, while IVS's refusal of a stage is fresh (nobody asks again meanwhile), or null. */
  private stageQuota(): Promise<StageQuotaNotice | null> {
    return this.deps.store.limits.getNotice(STAGE_QUOTA_NOTICE, this.deps.clock.now())
  }

  private async waitForRoom(exclude: readonly string[]): Promise<RoomOutcome> {
    const { store, lock } = this.deps
    const { maxStages, ceiling } = this.settings
    for (let attempt = 0; attempt < lock.maxAttempts; attempt++) {
      const stages = await store.listStages()
      let room = findRoom({ stages, stageQuota: null, exclude }, maxStages, ceiling)
      // Only a fleet that must grow asks whether IVS refused a stage lately (one store read less otherwise):
      // if it did, ask again when the notice runs out, not now.
      if (room.ok && room.grow) room = findRoom({ stages, stageQuota: await this.stageQuota(), exclude }, maxStages, ceiling)
      if (!room.ok) return room
      if (!room.grow) return { ok: true }
      let ran: boolean
      try {
        ran = await lock.tryRun(async () => {
          // Re-check under the lock: the previous holder may just have added the stage we need.
          const again = findRoom({ stages: await store.listStages(), stageQuota: null, exclude }, maxStages, ceiling)
          if (again.ok && again.grow) await this.addStage(undefined, {})
        })
      } catch (error) {
        const quota = error instanceof AppError && error.code === 'CAPACITY_EXHAUSTED' ? await this.stageQuota() : null
        if (quota) return { ok: false, refusal: stageQuotaReached(quota) }
        throw error
      }
      if (!ran) await lock.pause()
    }
    return { ok: false, refusal: fleetFull(maxStages, ceiling) }
  }

  private async destroy(arn: string): Promise<{ stageArn: string; removedViewers: number }> {
    const { provider, store, clock, events, logger, fanout } = this.deps
    let removed = 0
    const remove = async () => {
      await provider.deleteStage(arn)
      removed = ((await store.removeStage(arn, clock.now())) ?? []).length
    }
    await (fanout ? fanout.stageDeleting(arn, remove) : remove())
    await events.publish('stage_deleted', { stageArn: arn, timestamp: new Date(clock.now()).toISOString() })
    logger.info('stage deleted', { stageArn: arn, removedViewers: removed })
    return { stageArn: arn, removedViewers: removed }
  }

  /** Creates at the provider, then records; if the fleet filled up meanwhile the new stage is deleted again. */
  private async addStage(name: string | undefined, tags: Record<string, string>): Promise<StageView | null> {
    const { store, provider, clock, events, logger, counters } = this.deps
    const seq = await store.nextStageSeq()
    let created: ProviderStage
    try {
      created = await provider.createStage({ name: name ?? `${this.settings.fleetId}-${seq}`, tags: { ...tags, ...this.records.tags() } })
    } catch (error) {
      // ServiceQuotaExceededException: the account holds all the stages it may. Every instance stops
      // trying for a while, and new viewers hear so at once instead of a retry storm.
      if (error instanceof AppError && error.code === 'CAPACITY_EXHAUSTED') {
        await store.limits.putNotice(STAGE_QUOTA_NOTICE, `IVS refused a new stage: ${error.message}`, STAGE_QUOTA_NOTICE_MS, clock.now())
        counters.add('StageQuotaExceeded', 1)
        logger.warn('IVS stage quota reached: no new stage for a while', { error: error.message, retryInMs: STAGE_QUOTA_NOTICE_MS })
      }
      throw error
    }
    if (!(await store.addStage(stageRecord(created, { isMaster: false, seq }, clock.now()), this.settings.maxStages))) {
      await provider.deleteStage(created.arn)
      return null
    }
    counters.add('ScaleUps', 1)
    const recorded = await store.getStage(created.arn)
    // `relay`: whether the relay publishes into it (hybrid: origins only; replicate: none).
    const relay = recorded && this.deps.fanout ? await this.deps.fanout.stageCreated(recorded) : true
    await events.publish('stage_created', { stageArn: created.arn, relay, timestamp: new Date(clock.now()).toISOString() })
    logger.info('stage created', { stageArn: created.arn, seq, relay })
    return recorded
  }
}
