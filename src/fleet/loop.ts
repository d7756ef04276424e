import type { Clock } from '../clock'
import type { Logger } from '../log'
import type { Store } from '../store/types'
import type { Ticker } from '../ticker'
import type { LeaderLease } from './leader'
import { planScaling, type ScalingPolicy } from './scaling'
import type { FleetService } from './service'

export interface FleetLoopOptions {
  tickMs: number
  heartbeatTimeoutMs: number
  policy: ScalingPolicy
}

/**
 * The leader's work, once per tick: sweep silent viewers, then apply the scaling plan
 * (delete drained stages, start draining, create ahead of demand). Every instance ticks; only the
 * lease holder acts. Ticks never overlap.
 */
export class FleetLoop {
  private cancel: (() => void) | null = null
  private running: Promise<void> | null = null

  constructor(
    private readonly deps: { fleet: FleetService; lease: LeaderLease; store: Store; clock: Clock; logger: Logger; ticker: Ticker },
    private readonly options: FleetLoopOptions,
  ) {}

  start(): void {
    this.cancel = this.deps.ticker.every(this.options.tickMs, () => this.tick())
    void this.tick()
  }

  tick(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = null
    })
    return this.running
  }

  async stop(): Promise<void> {
    this.cancel?.()
    this.cancel = null
    await this.running
    await this.deps.lease.release()
  }

  private async round(): Promise<void> {
    const { fleet, lease, store, clock, logger } = this.deps
    try {
      if (!(await lease.renew())) return
      await fleet.sweepSilentViewers(this.options.heartbeatTimeoutMs)
      const plan = planScaling(await store.listStages(), this.options.policy, clock.now())
      // Renewed before each action: a slow round (paced IVS calls) must not act on a lapsed lease
      // while another instance has taken over.
      for (const arn of plan.remove) if (await lease.renew()) await fleet.retireStage(arn)
      for (const arn of plan.drain) if (await lease.renew()) await fleet.drainStage(arn)
      if (plan.create && (await lease.renew())) await fleet.createStageAhead()
    } catch (error) {
      logger.warn('fleet round failed', { error: error instanceof Error ? error.message : String(error) })
    }
  }
}
