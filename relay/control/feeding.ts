import type { Clock } from '../../src/clock'

/** How long a relay keeps its stage sessions after its publisher left while nobody else feeds (an OBS reconnect does not churn every stage). */
export const FEEDING_LINGER_MS = 10_000

export interface FeedingSettings {
  serverId: string
  lingerMs: number
  /**
   * Tests and benchmarks: hold stage sessions without a publisher too (as every relay did before
   * issue 21), unless serve says another relay feeds.
   */
  withoutPublisher?: boolean
}

/** What /health says about it. */
export interface FeedingView {
  /** This relay holds (or is to hold) stage sessions. */
  readonly feeding: boolean
  /** The feeding relay by serve's last word; null: none, or not heard yet. */
  readonly feedingRelay: string | null
}

/**
 * One feeding relay (issue 21): whether this relay holds stage sessions. serve arbitrates (from the
 * relays' heartbeats) and says who feeds; the relay follows: it feeds when serve names it, and not
 * when serve names another. While serve names nobody (or has not said yet) it feeds as long as its
 * own publisher is connected, and for `lingerMs` after that publisher left.
 */
export class FeedingSwitch implements FeedingView {
  /** serve's last word: a serverId, null for nobody, undefined before the first. */
  private told: string | null | undefined = undefined
  private connected = false
  private leftAt: number | null = null
  private holding = false

  constructor(
    private readonly settings: FeedingSettings,
    /** Monotonic time (the linger). */
    private readonly clock: Clock,
  ) {}

  get feeding(): boolean {
    return this.holding
  }

  get feedingRelay(): string | null {
    return this.told ?? null
  }

  /** serve's word: the feeding relay, or null for nobody. */
  tell(feedingRelay: string | null): void {
    this.told = feedingRelay
  }

  /** This relay's publisher connected, or left. */
  publisher(connected: boolean): void {
    if (this.connected && !connected) this.leftAt = this.clock.now()
    if (connected) this.leftAt = null
    this.connected = connected
  }

  /** Whether to hold stage sessions now (remembered: a linger only follows feeding). */
  decide(): boolean {
    const { serverId, withoutPublisher } = this.settings
    if (this.told === serverId) this.holding = true
    else if (typeof this.told === 'string') this.holding = false
    else this.holding = this.connected || withoutPublisher === true || this.lingering()
    return this.holding
  }

  /** Ms until the linger runs out, while it is what keeps this relay feeding; else null. */
  lingerLeftMs(): number | null {
    if (!this.holding || this.connected || typeof this.told === 'string' || this.leftAt === null) return null
    const left = this.leftAt + this.settings.lingerMs - this.clock.now()
    return left > 0 ? left : null
  }

  private lingering(): boolean {
    return this.holding && this.leftAt !== null && this.clock.now() - this.leftAt < this.settings.lingerMs
  }
}
