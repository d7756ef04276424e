import { describeError } from '../errors'
import type { Logger } from '../log'
import type { Ticker } from '../ticker'
import { Periodic } from './periodic'
import type { FleetStats } from './stats'

/** Whoever receives `stats_update` (the socket hub). */
export interface StatsAudience {
  hasStatsAudience(): boolean
  /** Sends the figures when they changed since the last ones sent; true when sent. */
  publishStats(stats: FleetStats): boolean
}

/** Reads the fleet's stats on every tick while someone listens, and hands them to the audience. */
export class StatsBroadcast {
  private readonly periodic: Periodic

  constructor(
    private readonly deps: { read(): Promise<FleetStats>; audience: StatsAudience; ticker: Ticker; logger: Logger },
    intervalMs: number,
  ) {
    this.periodic = new Periodic(deps.ticker, intervalMs, () => this.round())
  }

  start(): void {
    this.periodic.start()
  }

  /** One round; overlapping calls share it. */
  tick(): Promise<void> {
    return this.periodic.tick()
  }

  stop(): Promise<void> {
    return this.periodic.stop()
  }

  private async round(): Promise<void> {
    const { read, audience, logger } = this.deps
    if (!audience.hasStatsAudience()) return
    try {
      audience.publishStats(await read())
    } catch (error) {
      logger.debug('stats unavailable for this broadcast', { error: describeError(error) })
    }
  }
}
