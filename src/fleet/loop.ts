import type { Clock } from '../clock'
import { describeError } from '../errors'
import type { Logger } from '../log'
import type { Store } from '../store/types'
import type { Ticker } from '../ticker'
import type { LeaderLease } from './leader'
import { Periodic } from './periodic'
import type { RelayService } from './relays'
import type { ReplicationService } from './replication'
import { planScaling } from './scaling'
import type { LoopSettings } from './settings'
import type { StageService } from './stages'
import type { ViewerService } from './viewers'

export interface FleetLoopDeps {
  stages: Pick<StageService, 'retire' | 'drain' | 'createAhead' | 'restoreIfLost'>
  viewers: Pick<ViewerService, 'sweepSilent'>
  relays: Pick<RelayService, 'expireSilent' | 'probePublisher'>
  /** FANOUT_MODE replicate and hybrid: the participant replications (its own cadence, beside the tick: never waited for). */
  replication?: Pick<ReplicationService, 'tick' | 'holdsStages' | 'close'>
  lease: LeaderLease
  store: Store
  clock: Clock
  logger: Logger
  ticker: Ticker
}

/**
 * The leader's work, once per tick: sweep silent viewers, put back the fleet's stage records if
 * the store lost them, then apply the scaling plan (delete drained stages, start draining, create
 * ahead of demand). Every instance ticks; only the lease holder acts. Ticks never overlap.
 */
export class FleetLoop {
  private readonly periodic: Periodic
  /** Whether this instance led at its last tick (a change to leading owes a thorough replication round). */
  private leading = false
  /** The replication round running beside the loop, if any. */
  private replicating: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly deps: FleetLoopDeps,
    private readonly options: LoopSettings,
  ) {
    this.periodic = new Periodic(deps.ticker, options.tickMs, () => this.round())
  }

  start(): void {
    this.periodic.start()
    void this.tick()
  }

  tick(): Promise<void> {
    return this.periodic.tick()
  }

  /** Stops ticking and gives the lease up; a replication round in progress stops at its next IVS call (no longer leading); new stages' follow-ups are cancelled. */
  async stop(): Promise<void> {
    await this.periodic.stop()
    await this.deps.lease.release()
    await this.replicating
    this.deps.replication?.close()
  }

  private async round(): Promise<void> {
    const { stages, viewers, relays, lease, store, clock, logger } = this.deps
    try {
      const leads = await lease.renew()
      const became = leads && !this.leading
      this.leading = leads
      if (!leads) return
      this.replicate(became)
      await viewers.sweepSilent(this.options.heartbeatTimeoutMs)
      await relays.expireSilent()
      await relays.probePublisher()
      let listed = await store.listStages()
      // A store that lost its data (flushed, an empty replica promoted) has no master: put it back.
      if (await stages.restoreIfLost(listed)) listed = await store.listStages()
      const plan = planScaling(listed, this.options.policy, clock.now())
      // Renewed before each action: a slow round (paced IVS calls) must not act on a lapsed lease
      // while another instance has taken over.
      for (const arn of plan.remove) {
        // Hybrid: a draining origin stays until the stages it feeds have their new feed (a few rounds at most).
        const stage = listed.find((s) => s.arn === arn)
        if (stage && (await this.deps.replication?.holdsStages(stage))) continue
        if (await lease.renew()) await stages.retire(arn)
      }
      for (const arn of plan.drain) if (await lease.renew()) await stages.drain(arn)
      if (plan.create && (await lease.renew())) await stages.createAhead()
    } catch (error) {
      logger.warn('fleet round failed', { error: describeError(error) })
    }
  }

  /**
   * The replication round runs beside the loop, which does not wait for it: a round at large N takes
   * ~N/30 s (IVS calls paced at 5 per second per operation) and must not hold the sweeper, scaling or
   * the lease's renewal up. It checks the lease before each IVS call and stops once this instance no
   * longer leads; the first round after becoming leader reads IVS thoroughly.
   */
  private replicate(became: boolean): void {
    const { replication, lease, logger } = this.deps
    if (!replication) return
    this.replicating = replication.tick({ thorough: became, leading: () => lease.holds() }).catch((error) => {
      logger.warn('replication round failed; tried again next tick', { error: describeError(error) })
    })
  }
}
