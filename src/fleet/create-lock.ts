import type { Clock, Sleep } from '../clock'
import { AppError } from '../errors'
import { randomAlphanumeric } from '../ids'
import type { Store } from '../store/types'
import type { CreateLockSettings } from './settings'

const LOCK_NAME = 'stage-create'

/**
 * One stage creation at a time across the fleet: a lease in the shared store. Each acquisition
 * has its own holder id, so the same instance's autoscaler and request path exclude each other
 * too, and the lock is held at least `spacingMs` so several instances together stay under IVS's
 * stage-operation rate.
 */
export class CreateLock {
  constructor(
    private readonly deps: { store: Store; clock: Clock; sleep: Sleep },
    private readonly settings: CreateLockSettings,
  ) {}

  /** Runs `task` holding the lock; false (and `task` not run) when another holder has it. */
  async tryRun(task: () => Promise<void>): Promise<boolean> {
    const { store, clock, sleep } = this.deps
    const holder = `${this.settings.instanceId}:${randomAlphanumeric(8)}`
    if (!(await store.acquireLease(LOCK_NAME, holder, this.settings.leaseMs, clock.now()))) return false
    const started = clock.now()
    try {
      await task()
    } finally {
      const left = this.settings.spacingMs - (clock.now() - started)
      if (left > 0) await sleep(left)
      await store.releaseLease(LOCK_NAME, holder)
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
