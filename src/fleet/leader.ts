import type { Clock } from '../clock'
import type { Logger } from '../log'
import type { Store } from '../store/types'

/**
 * Leadership through a lease in the shared store: renewed on every tick, so when the leader
 * dies another instance takes over within one lease period.
 */
export class LeaderLease {
  private leader = false

  constructor(
    private readonly deps: { store: Store; clock: Clock; logger: Logger },
    readonly holderId: string,
    private readonly leaseMs: number,
    private readonly name = 'leader',
  ) {}

  get isLeader(): boolean {
    return this.leader
  }

  /** Acquires or renews; a store that cannot be reached means not leader (another may be). */
  async renew(): Promise<boolean> {
    const was = this.leader
    try {
      this.leader = await this.deps.store.acquireLease(this.name, this.holderId, this.leaseMs, this.deps.clock.now())
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
