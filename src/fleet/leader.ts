import type { Clock } from '../clock'
import type { Logger } from '../log'
import type { Store } from '../store/types'

/**
 * Leadership through a lease in the shared store: renewed on every tick, so when the leader
 * dies another instance takes over within one lease period.
 */
export class LeaderLease {
  private leader = false
  /** When the last successful renewal was asked for. */
  private renewedAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly deps: { store: Store; clock: Clock; logger: Logger },
    readonly holderId: string,
    private readonly leaseMs: number,
    private readonly name = 'leader',
  ) {}

  get isLeader(): boolean {
    return this.leader
  }

  /**
   * Whether this instance still leads right now, without asking the store: it did at its last
   * renewal, and that lease has not run out since (work running beside the loop checks this).
   */
  holds(): boolean {
    return this.leader && this.deps.clock.now() - this.renewedAt < this.leaseMs
  }

  /** Acquires or renews; a store that cannot be reached means not leader (another may be). */
  async renew(): Promise<boolean> {
    const was = this.leader
    const asked = this.deps.clock.now()
    try {
      this.leader = await this.deps.store.acquireLease(this.name, this.holderId, this.leaseMs, asked)
      if (this.leader) this.renewedAt = asked
    } catch {
      this.leader = false
    }
    if (this.leader !== was) this.deps.logger.info(this.leader ? 'became leader' : 'lost leadership', { holder: this.holderId })
    return this.leader
  }

  async release(): Promise<void> {
    if (!this.leader) return
    this.leader = false
    await this.deps.store.releaseLease(this.name, this.holderId).catch(() => {})
  }
}
