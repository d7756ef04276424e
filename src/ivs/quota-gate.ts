import type { Clock, Sleep } from '../clock'
import { AppError } from '../errors'
import { randomAlphanumeric } from '../ids'
import type { Limits } from '../store/limits'

/** Call it once the call has its answer (or has failed). */
export type ReleaseSlot = () => void

export interface QuotaGateOptions {
  /** Calls IVS may receive per window, by operation (per account and region). */
  limitOf(operation: string): number
  /** IVS's 1 s window plus a margin for clock granularity and an aborted call that still arrives. */
  windowMs: number
  /** A call holds its slot at most this long while in flight (the attempt timeout): a holder that dies frees it then. */
  holdMs: number
  /** A caller that would wait longer for its turn gets 503 UPSTREAM_UNAVAILABLE with Retry-After. */
  maxWaitMs: number
  /** Names the account and region, so fleets of one account in one store share the gate. */
  scope: string
  /** Longest single pause while polling a full window (slots freed by other instances show up by then). */
  pollMs?: number
}

export interface GateObserver {
  /** How long a call waited for its slot, by operation. */
  waited?(operation: string, ms: number): void
}

interface Waiter {
  resolve(release: ReleaseSlot): void
  reject(error: Error): void
  deadline: number
  enqueuedAt: number
}

/**
 * IVS's per-account rate quotas, kept by every instance together: each call takes a slot in a
 * window held in the shared store (Limits), and keeps it while in flight and for one window after
 * it ended, so IVS never receives more than the quota in any window, however the calls of N
 * instances interleave. In each process the callers of an operation queue in arrival order and
 * only the head asks the store, so a burst costs one store call per slot, not per waiter.
 */
export class QuotaGate {
  private readonly queues = new Map<string, Waiter[]>()
  private readonly pumping = new Set<string>()
  private readonly wake = new Map<string, () => void>()

  constructor(
    private readonly deps: { limits: Limits; clock: Clock; sleep: Sleep; observer?: GateObserver },
    private readonly options: QuotaGateOptions,
  ) {}

  acquire(operation: string): Promise<ReleaseSlot> {
    const queue = this.queueOf(operation)
    const limit = this.options.limitOf(operation)
    // More waiting here than the quota serves within maxWaitMs (a window's worth now, one more per
    // window waited): refuse now rather than at the deadline. Other instances' use shows at the deadline.
    const servable = limit * (1 + Math.floor(this.options.maxWaitMs / this.options.windowMs))
    if (queue.length >= servable) return Promise.reject(this.tooBusy(operation, queue.length))
    const now = this.deps.clock.now()
    return new Promise<ReleaseSlot>((resolve, reject) => {
      queue.push({ resolve, reject, deadline: now + this.options.maxWaitMs, enqueuedAt: now })
      void this.pump(operation)
    })
  }

  /** Share of the quota in use now (slots held in the window / the limit), by operation. */
  async usage(operations: readonly string[]): Promise<{ operation: string; used: number; limit: number }[]> {
    const now = this.deps.clock.now()
    return Promise.all(
      operations.map(async (operation) => ({
        operation,
        used: await this.deps.limits.slotsInUse(`ivs:${this.options.scope}:${operation}`, this.options.windowMs, now),
        limit: this.options.limitOf(operation),
      })),
    )
  }

  private queueOf(operation: string): Waiter[] {
    let queue = this.queues.get(operation)
    if (!queue) {
      queue = []
      this.queues.set(operation, queue)
    }
    return queue
  }

  private async pump(operation: string): Promise<void> {
    if (this.pumping.has(operation)) return this.wake.get(operation)?.()
    this.pumping.add(operation)
    const queue = this.queueOf(operation)
    const { limits, clock } = this.deps
    const { windowMs, holdMs, scope } = this.options
    const name = `ivs:${scope}:${operation}`
    try {
      while (queue.length > 0) {
        const now = clock.now()
        for (const expired of queue.filter((w) => w.deadline <= now)) {
          queue.splice(queue.indexOf(expired), 1)
          expired.reject(this.tooBusy(operation, queue.length))
        }
        const head = queue[0]
        if (!head) break
        const member = randomAlphanumeric(12)
        let waitMs: number
        try {
          waitMs = await limits.takeSlot(name, member, this.options.limitOf(operation), windowMs, now + holdMs, now)
        } catch (error) {
          // The store is unreachable: nobody can be paced fleet-wide, so nobody goes through.
          for (const w of queue.splice(0)) w.reject(error as Error)
          break
        }
        if (waitMs === 0) {
          queue.shift()
          this.deps.observer?.waited?.(operation, clock.now() - head.enqueuedAt)
          head.resolve(this.releaser(name, member, operation))
          continue
        }
        await this.pause(operation, Math.min(waitMs, this.options.pollMs ?? 100, Math.max(1, head.deadline - now)))
      }
    } finally {
      this.pumping.delete(operation)
    }
  }

  /** Sleeps, unless a call of this process ends first (its slot may be what the head waits for). */
  private pause(operation: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let done = false
      const finish = () => {
        if (done) return
        done = true
        this.wake.delete(operation)
        resolve()
      }
      this.wake.set(operation, finish)
      void this.deps.sleep(ms).then(finish)
    })
  }

  private releaser(name: string, member: string, operation: string): ReleaseSlot {
    let released = false
    return () => {
      if (released) return
      released = true
      void this.deps.limits.endSlot(name, member, this.deps.clock.now()).catch(() => {})
      this.wake.get(operation)?.()
    }
  }

  private tooBusy(operation: string, queued: number): AppError {
    const limit = this.options.limitOf(operation)
    const retryAfter = Math.max(1, Math.ceil(((queued + 1) / limit) * (this.options.windowMs / 1000)))
    return new AppError(
      'UPSTREAM_UNAVAILABLE',
      `too many ${operation} calls waiting for IVS's rate quota (${limit} per second for the account); retry shortly`,
      { queued, operation },
      retryAfter,
    )
  }
}
