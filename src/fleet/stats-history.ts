import type { Clock } from '../clock'
import { describeError } from '../errors'
import type { Logger } from '../log'
import type { Ticker } from '../ticker'
import { Periodic } from './periodic'
import type { FleetStats } from './stats'

/** One reading of the fleet's figures (what the dashboard's chart draws). */
export interface StatsSample {
  /** ms, this instance's clock. */
  at: number
  totalViewers: number
  /** Seats on the stages taking viewers. */
  openSeats: number
  activeStages: number
}

export interface StatsHistorySettings {
  /** A sample this often, whether anyone watches or not. */
  intervalMs: number
  /** Samples this old are dropped. */
  windowMs: number
}

/** The last hour at 10 s: 361 samples at most, a few tens of kB. */
export const STATS_HISTORY: StatsHistorySettings = { intervalMs: 10_000, windowMs: 3_600_000 }

/**
 * The fleet's figures over the last hour, kept in this instance's memory: a bounded ring of samples
 * (one read of the fleet's stats every `intervalMs`, the same read /api/stats makes). A dashboard
 * opened during an incident shows the hour before it at once. Per instance: it starts empty when the
 * instance starts (the chart says since when); a read that fails leaves a gap.
 */
export class StatsHistory {
  private readonly ring: StatsSample[] = []
  private readonly periodic: Periodic
  /** Most samples kept, whatever the clock does: one window's worth and one more. */
  private readonly capacity: number

  constructor(
    private readonly deps: { read(): Promise<FleetStats>; clock: Clock; ticker: Ticker; logger: Logger },
    readonly settings: StatsHistorySettings = STATS_HISTORY,
  ) {
    this.capacity = Math.floor(settings.windowMs / settings.intervalMs) + 1
    this.periodic = new Periodic(deps.ticker, settings.intervalMs, () => this.round())
  }

  /** The first sample now, then one every interval. */
  start(): void {
    this.periodic.start()
    void this.periodic.tick()
  }

  /** One sample now (overlapping calls share it). */
  tick(): Promise<void> {
    return this.periodic.tick()
  }

  stop(): Promise<void> {
    return this.periodic.stop()
  }

  record(stats: FleetStats, at: number): void {
    this.ring.push({ at, totalViewers: stats.totalViewers, openSeats: stats.seats.open, activeStages: stats.activeStages })
    while (this.ring.length > this.capacity) this.ring.shift()
  }

  /** The samples of the window ending `now`, oldest first. */
  samples(now = this.deps.clock.now()): StatsSample[] {
    const from = now - this.settings.windowMs
    return this.ring.filter((s) => s.at >= from && s.at <= now)
  }

  private async round(): Promise<void> {
    try {
      const stats = await this.deps.read()
      this.record(stats, this.deps.clock.now())
    } catch (error) {
      this.deps.logger.debug('no stats sample this time', { error: describeError(error) })
    }
  }
}
