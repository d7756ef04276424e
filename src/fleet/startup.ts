import type { Sleep } from '../clock'
import { describeError } from '../errors'
import type { Logger } from '../log'
import type { StageView } from '../store/types'
import { MasterStageMissing } from './stages'

/**
 * Brings the fleet up (master stage, adoption) even when the store or IVS is not there yet: the
 * first attempt is awaited, later ones run in the background with backoff until one succeeds.
 * Until then readiness says why. A missing configured master stage is fatal whenever it shows.
 */
export class FleetStartup {
  private master: StageView | null = null
  private lastError = 'starting'
  private stopped = false

  constructor(
    private readonly deps: {
      start(): Promise<StageView>
      logger: Logger
      sleep: Sleep
      /** A configuration error found after start (e.g. MASTER_STAGE_ARN does not exist). */
      onFatal(error: MasterStageMissing): void
    },
  ) {}

  /** The first attempt. Throws MasterStageMissing; any other failure is retried in the background. */
  async begin(): Promise<StageView | null> {
    if (await this.attempt()) return this.master
    this.deps.logger.warn('the fleet cannot start yet; retrying in the background', { reason: this.lastError })
    void this.retry()
    return null
  }

  get started(): boolean {
    return this.master !== null
  }

  /** For readiness: throws the reason while the fleet has not started. */
  async check(): Promise<void> {
    if (!this.master) throw new Error(`the fleet has not started: ${this.lastError}`)
  }

  stop(): void {
    this.stopped = true
  }

  private async attempt(): Promise<boolean> {
    try {
      this.master = await this.deps.start()
      return true
    } catch (error) {
      if (error instanceof MasterStageMissing) throw error
      this.lastError = describeError(error)
      return false
    }
  }

  private async retry(): Promise<void> {
    for (let failures = 0; !this.stopped; failures++) {
      // Capped at 2 s, as the store's own reconnects: ready soon after the store answers again.
      await this.deps.sleep(Math.min(2_000, 250 * 2 ** Math.min(failures, 3)))
      if (this.stopped) return
      try {
        if (await this.attempt()) {
          this.deps.logger.info('fleet started', { masterStageArn: this.master!.arn, attempts: failures + 2 })
          return
        }
      } catch (error) {
        return this.deps.onFatal(error as MasterStageMissing)
      }
    }
  }
}
