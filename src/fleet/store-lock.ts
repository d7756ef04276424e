import type { Clock, Sleep } from '../clock'
import { AppError, describeError } from '../errors'
import { randomAlphanumeric } from '../ids'
import type { Logger } from '../log'
import type { Store } from '../store/types'
import type { Ticker } from '../ticker'
import type { StoreLockSettings } from './settings'

export interface StoreLockDeps {
  store: Store
  clock: Clock
  sleep: Sleep
  /** Renews a held lease every `renewMs`. */
  ticker: Ticker
  logger: Logger
}

/** Which lock, and what its log lines and refusal say. */
export interface StoreLockNaming {
  /** The lease's name in the store. */
  name: string
  /** Logged when a renewal finds the lease taken by another holder. */
  lost: string
  /** Logged when a renewal gets no answer from the store. */
  notRenewed: string
  /** The 503's message when `run` waited `maxWaitMs` in vain. */
  busy: string
}

/** The fan-out's lock (replication.ts): rounds, a new stage's hook and a deleted stage's hold it. */
export const FANOUT_LOCK: StoreLockNaming = {
  name: 'fanout',
  lost: 'fan-out lock lost: another holder took it; this round or hook stops before its next IVS call',
  notRenewed: 'fan-out lock not renewed: the store did not answer',
  busy: 'the fan-out lock stayed busy; retry shortly',
}

/** The lock as its task sees it: `held` turns false once a renewal found another holder (this one stalled a whole lease). */
export interface LockHold {
  readonly held: boolean
}

/** The result of a bounded wait: the task's value, or null when the lock stayed busy. */
export type Ran<T> = { value: T } | null

/**
 * One holder at a time across the fleet: a lease in the shared store (the stage-creation lock,
 * create-lock.ts; the fan-out's, replication.ts). Each acquisition has its own holder id, so work of
 * the same instance excludes each other too, and the lock is held at least `spacingMs`.
 *
 * The lease is short (`leaseMs`, a few seconds) and its holder renews it every `renewMs` for as long
 * as the work runs: an instance that dies holding it stops renewing, and the others take the lock
 * over at most one short lease later, instead of the whole fleet waiting out a long lease.
 *
 * A renewal that finds the lease taken by another holder (this process was stalled, or could not
 * reach the store, for a whole lease) means two holders' work may now overlap: logged as a warning
 * (`naming.lost`), renewals stop, the task sees `held` false (it may stop), and the lock, someone
 * else's now, is not released.
 */
export class StoreLock {
  constructor(
    protected readonly deps: StoreLockDeps,
    protected readonly settings: StoreLockSettings,
    private readonly naming: StoreLockNaming,
  ) {}

  /** Runs `task` holding the lock; false (and `task` not run) when another holder has it. */
  async tryRun(task: (hold: LockHold) => Promise<void>): Promise<boolean> {
    const { store, clock, sleep } = this.deps
    const holder = `${this.settings.instanceId}:${randomAlphanumeric(8)}`
    if (!(await store.acquireLease(this.naming.name, holder, this.settings.leaseMs, clock.now()))) return false
    const started = clock.now()
    const lease = new HeldLease(this.deps, this.settings, this.naming, holder)
    try {
      await task(lease)
    } finally {
      const left = this.settings.spacingMs - (clock.now() - started)
      if (left > 0) await sleep(left)
      if (await lease.end()) await store.releaseLease(this.naming.name, holder)
    }
    return true
  }

  /** Runs `task` under the lock, waiting for it while another holder has it (at most `maxWaitMs`); null when it stayed busy. */
  async waitFor<T>(task: (hold: LockHold) => Promise<T>, maxWaitMs = this.settings.maxWaitMs): Promise<Ran<T>> {
    const giveUpAt = this.deps.clock.now() + maxWaitMs
    const attempts = Math.max(1, Math.ceil(maxWaitMs / Math.max(1, this.settings.pollMs)))
    for (let attempt = 0; ; attempt++) {
      let result: T | undefined
      const ran = await this.tryRun(async (hold) => {
        result = await task(hold)
      })
      if (ran) return { value: result as T }
      // The attempt bound keeps a clock that does not move (tests) from waiting forever.
      if (this.deps.clock.now() >= giveUpAt || attempt >= attempts) return null
      await this.pause()
    }
  }

  /** Like `waitFor`, but a lock that stayed busy is a 503 (retry shortly). */
  async run<T>(task: (hold: LockHold) => Promise<T>): Promise<T> {
    const ran = await this.waitFor(task)
    if (ran) return ran.value
    throw new AppError('UPSTREAM_UNAVAILABLE', this.naming.busy, undefined, 1)
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
class HeldLease implements LockHold {
  private lost = false
  private renewedAt: number
  private renewing: Promise<void> | null = null
  private readonly stop: () => void

  constructor(
    private readonly deps: StoreLockDeps,
    private readonly settings: StoreLockSettings,
    private readonly naming: StoreLockNaming,
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

  get held(): boolean {
    return !this.lost
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
      if (await store.acquireLease(this.naming.name, this.holder, this.settings.leaseMs, now)) {
        this.renewedAt = now
        return
      }
    } catch (error) {
      // The store did not answer: the next tick tries again; the lease runs out if this lasts a whole lease.
      logger.warn(this.naming.notRenewed, { holder: this.holder, error: describeError(error) })
      return
    }
    this.lost = true
    this.stop()
    logger.warn(this.naming.lost, { holder: this.holder, sinceRenewalMs: now - this.renewedAt, leaseMs: this.settings.leaseMs })
  }
}
