import type { Clock, Sleep } from '../clock'
import { AppError, describeError } from '../errors'
import { randomAlphanumeric } from '../ids'
import type { Logger } from '../log'
import type { Store } from '../store/types'
import type { Ticker } from '../ticker'
import type { CreateLockSettings } from './settings'

const LOCK_NAME = 'stage-create'

export interface CreateLockDeps {
  store: Store
  clock: Clock
  sleep: Sleep
  /** Renews a held lease every `renewMs`. */
  ticker: Ticker
  logger: Logger
}

/**
 * One stage creation at a time across the fleet: a lease in the shared store. Each acquisition
 * has its own holder id, so the same instance's autoscaler and request path exclude each other
 * too, and the lock is held at least `spacingMs` so several instances together stay under IVS's
 * stage-operation rate.
 *
 * The lease is short (`leaseMs`, a few seconds) and its holder renews it every `renewMs` for as long
 * as the work runs: an instance that dies holding it stops renewing, and the others take the lock
 * over at most one short lease later, instead of the whole fleet waiting out a long lease.
 *
 * A renewal that finds the lease taken by another holder (this process was stalled, or could not
 * reach the store, for a whole lease) means two creations may now overlap. The one here cannot be
 * recalled (IVS has been asked) and still finishes and records its stage; the store's addStage still
 * holds the fleet to MAX_STAGES and the IVS quota gate to 5 stage operations a second, so the cost is
 * at most a stage more than demand, which scale-down retires. It is logged as a warning ("stage-creation
 * lock lost while creating"), renewals stop, and the lock, someone else's now, is not released.
 */
export class CreateLock {
  constructor(
    private readonly deps: CreateLockDeps,
    private readonly settings: CreateLockSettings,
  ) {}

  /** Runs `task` holding the lock; false (and `task` not run) when another holder has it. */
  async tryRun(task: () => Promise<void>): Promise<boolean> {
    const { store, clock, sleep } = this.deps
    const holder = `${this.settings.instanceId}:${randomAlphanumeric(8)}`
    if (!(await store.acquireLease(LOCK_NAME, holder, this.settings.leaseMs, clock.now()))) return false
    const started = clock.now()
    const lease = new HeldLease(this.deps, this.settings, holder)
    try {
      await task()
    } finally {
      const left = this.settings.spacingMs - (clock.now() - started)
      if (left > 0) await sleep(left)
      if (await lease.end()) await store.releaseLease(LOCK_NAME, holder)
    }
    return true
  }

  /** Runs `task` under the lock, waiting for it while another holder has it (at most `maxWaitMs`). */
  async run<T>(task: () => Promise<T>): Promise<T> {
    const giveUpAt = this.deps.clock.now() + this.settings.maxWaitMs
    for (let attempt = 0; ; attempt++) {
      let result: T | undefined
      const ran = await this.tryRun(async () => {
        result = await task()
      })
      if (ran) return result as T
      // The attempt bound keeps a clock that does not move (tests) from waiting forever.
      if (this.deps.clock.now() >= giveUpAt || attempt >= this.maxAttempts) break
      await this.pause()
    }
    throw new AppError('UPSTREAM_UNAVAILABLE', 'the stage-creation lock stayed busy; retry shortly', undefined, 1)
  }

  /** The wait between two attempts on a busy lock. */
  pause(): Promise<void> {
    return this.deps.sleep(this.settings.pollMs)
  }

  /** Attempts that fit in `maxWaitMs`. */
  get maxAttempts(): number {
    return Math.max(1, Math.ceil(this.settings.maxWaitMs / Math.max(1, this.settings.pollMs)))
  }
}

/** The lock while this process holds it: renewed on every tick until `end`. */
class HeldLease {
  private lost = false
  private renewedAt: number
  private renewing: Promise<void> | null = null
  private readonly stop: () => void

  constructor(
    private readonly deps: CreateLockDeps,
    private readonly settings: CreateLockSettings,
    private readonly holder: string,
  ) {
    this.renewedAt = deps.clock.now()
    // One renewal at a time: a tick that finds one still waiting on the store leaves it be.
    this.stop = deps.ticker.every(settings.renewMs, () => {
      this.renewing ??= this.renew().finally(() => {
        this.renewing = null
      })
      return this.renewing
    })
  }

  /** Stops renewing, after a renewal in flight (which would otherwise take the lease again once released); true while the lease is still this holder's. */
  async end(): Promise<boolean> {
    this.stop()
    await this.renewing
    return !this.lost
  }

  private async renew(): Promise<void> {
    const { store, clock, logger } = this.deps
    if (this.lost) return
    const now = clock.now()
    try {
      if (await store.acquireLease(LOCK_NAME, this.holder, this.settings.leaseMs, now)) {
        this.renewedAt = now
        return
      }
    } catch (error) {
      // The store did not answer: the next tick tries again; the lease runs out if this lasts a whole lease.
      logger.warn('stage-creation lock not renewed: the store did not answer', { holder: this.holder, error: describeError(error) })
      return
    }
    this.lost = true
    this.stop()
    logger.warn('stage-creation lock lost while creating: another holder took it, and a creation may run alongside this one', {
      holder: this.holder,
      sinceRenewalMs: now - this.renewedAt,
      leaseMs: this.settings.leaseMs,
    })
  }
}
