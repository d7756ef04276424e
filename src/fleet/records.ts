import type { Clock } from '../clock'
import { AppError } from '../errors'
import type { ProviderStage, StageProvider } from '../ivs/types'
import type { Logger } from '../log'
import type { StageRecord, StageView, Store } from '../store/types'
import type { CreateLock } from './create-lock'
import type { StageSettings } from './settings'

export const FLEET_TAG = 'ivs-fanout:fleet'

/** The configured master stage does not exist: a configuration error, not an outage. */
export class MasterStageMissing extends Error {}

/** What the fleet found missing in the store and put back. */
export interface Restored {
  masterStageArn: string
  adopted: string[]
  dropped: string[]
}

export function stageRecord(stage: ProviderStage, extra: { isMaster: boolean; seq: number }, now: number): StageRecord {
  return {
    arn: stage.arn,
    name: stage.name,
    isMaster: extra.isMaster,
    status: 'active',
    seq: extra.seq,
    createdAt: now,
    drainingSince: null,
    tags: stage.tags,
    endpoints: stage.endpoints,
  }
}

/**
 * The store's records of the fleet's stages, kept true to the configuration and the provider: the
 * master at start, re-adoption of the fleet's tagged stages after a restart, and both put back when
 * the store lost them (FLUSHALL, an empty replica promoted, the key evicted).
 */
export class FleetRecords {
  /** The master this instance last saw: where to look first when the store has forgotten it. */
  private masterArn: string | null = null

  constructor(
    private readonly deps: { store: Store; provider: StageProvider; lock: CreateLock; clock: Clock; logger: Logger },
    private readonly settings: StageSettings,
  ) {}

  /** Under the creation lock: instances starting together must agree on one master. */
  start(): Promise<StageView> {
    return this.deps.lock.run(async () => {
      const master = await this.ensureMaster()
      await this.adoptFleetStages()
      return master
    })
  }

  /** The master as the store has it now (another instance may have restored a different one). */
  async master(): Promise<StageView> {
    const { store } = this.deps
    const remembered = this.masterArn ? await store.getStage(this.masterArn) : null
    if (remembered?.isMaster) return remembered
    const current = (await store.listStages()).find((s) => s.isMaster)
    if (current) {
      this.masterArn = current.arn
      return current
    }
    if (this.masterArn === null) throw new AppError('UPSTREAM_UNAVAILABLE', 'the master stage is not available yet', undefined, 1)
    throw new AppError('UPSTREAM_UNAVAILABLE', 'the master stage is not available: the store has lost its record; the leader restores it shortly', undefined, 1)
  }

  /**
   * The leader's check on every tick, given the stages the store lists: no master means the store
   * lost the fleet's records. Every stage record lives in one store key, so they go together; the
   * master's is the one that is always there otherwise. The master comes back from
   * MASTER_STAGE_ARN (or the one this instance knew, or the fleet's tagged master at the
   * provider), and the fleet's tagged stages the provider still has are adopted again. Stages
   * added since (viewers who came first) are kept. Null when nothing was missing, when another
   * holder of the creation lock is busy (the next tick tries again), or when this instance has not
   * started yet (its start-up, retried in the background, does the same).
   */
  async restoreIfLost(listed: readonly StageView[]): Promise<Restored | null> {
    if (this.masterArn === null || listed.some((s) => s.isMaster)) return null
    const { store, lock, logger } = this.deps
    const outcome: { restored?: Restored } = {}
    await lock.tryRun(async () => {
      if ((await store.listStages()).some((s) => s.isMaster)) return
      const master = await this.ensureMaster()
      outcome.restored = { masterStageArn: master.arn, ...(await this.adoptFleetStages()) }
      logger.warn('fleet records restored: the store had lost the master stage', { ...outcome.restored })
    })
    return outcome.restored ?? null
  }

  /**
   * After a restart the provider is the truth: stages carrying this fleet's tag that the store
   * lost are added back, records of stages the provider no longer has are dropped. Stages without
   * the tag are never touched.
   */
  async adoptFleetStages(): Promise<{ adopted: string[]; dropped: string[] }> {
    const { store, provider, clock, logger } = this.deps
    // The store first: a stage created between the two reads is then at the provider too (adopted,
    // harmlessly, as its creator records it), never dropped for being missing there.
    const known = await store.listStages()
    const atProvider = await provider.listStages({ tags: this.tags() })
    const knownArns = new Set(known.map((s) => s.arn))
    const dropped: string[] = []
    for (const stage of known) {
      const there = atProvider.find((s) => s.arn === stage.arn)
      if (there) await this.refreshEndpoints(stage, there)
      if (stage.isMaster || there) continue
      await store.removeStage(stage.arn, clock.now())
      dropped.push(stage.arn)
    }
    const adopted: string[] = []
    for (const stage of atProvider) {
      if (knownArns.has(stage.arn)) continue
      const added = await store.addStage(stageRecord(stage, { isMaster: false, seq: await store.nextStageSeq() }, clock.now()), Number.MAX_SAFE_INTEGER)
      if (added) adopted.push(stage.arn)
    }
    if (adopted.length || dropped.length) logger.info('fleet stages reconciled', { adopted, dropped })
    return { adopted, dropped }
  }

  tags(): Record<string, string> {
    return { [FLEET_TAG]: this.settings.fleetId }
  }

  /**
   * The provider's endpoints win over the record's: a local stage reports the LOCAL_WHIP_URL of
   * now (set or unset since the stage was made), so a restart with it changed applies to every stage.
   */
  private async refreshEndpoints(known: StageView, at: ProviderStage): Promise<void> {
    if (known.endpoints.whip === at.endpoints.whip && known.endpoints.events === at.endpoints.events) return
    await this.deps.store.updateStage(known.arn, { endpoints: at.endpoints })
    this.deps.logger.info('stage endpoints updated from the provider', { stageArn: known.arn, endpoints: at.endpoints })
  }

  /** The configured master, the one the store (or this instance) knows, the fleet's tagged one at the provider, or a new one. */
  private async ensureMaster(): Promise<StageView> {
    const { store, provider, clock, logger } = this.deps
    const known = (await store.listStages()).find((s) => s.isMaster)
    const wanted = this.settings.masterStageArn ?? known?.arn ?? this.masterArn ?? (await this.taggedMaster())
    if (wanted !== null) {
      const stage = await provider.getStage(wanted)
      if (stage) {
        if (known && known.arn !== wanted) await store.removeStage(known.arn, clock.now())
        await store.addStage(stageRecord(stage, { isMaster: true, seq: 0 }, clock.now()), Number.MAX_SAFE_INTEGER)
        if (known?.arn === wanted) await this.refreshEndpoints(known, stage)
        this.masterArn = wanted
        return (await store.getStage(wanted))!
      }
      if (this.settings.masterStageArn !== null) {
        throw new MasterStageMissing(`MASTER_STAGE_ARN ${wanted} does not exist at the stage provider (${provider.kind})`)
      }
      await store.removeStage(wanted, clock.now())
    }
    const created = await provider.createStage({ name: this.masterName(), tags: this.tags() })
    await store.addStage(stageRecord(created, { isMaster: true, seq: 0 }, clock.now()), Number.MAX_SAFE_INTEGER)
    this.masterArn = created.arn
    logger.info('master stage created', { stageArn: created.arn })
    return (await store.getStage(created.arn))!
  }

  /** The master this fleet created earlier, found by its tag and name at the provider (the store and this instance know none). */
  private async taggedMaster(): Promise<string | null> {
    const stages = await this.deps.provider.listStages({ tags: this.tags() })
    return stages.find((s) => s.name === this.masterName())?.arn ?? null
  }

  private masterName(): string {
    return `${this.settings.fleetId}-master`
  }
}
