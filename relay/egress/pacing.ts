import type { Clock } from '../../src/clock'
import { realSchedule, type Schedule } from '../../src/ticker'

/** Egress pacing: the pace the publisher's video leaves for every stage. */
export interface PacingConfig {
  /** Bits per second; a keyframe burst is spread at this rate. */
  bitsPerSecond: number
  /** At most this many ms worth of bytes leave at once (the bucket's depth). */
  burstMs: number
  /** A queue longer than this many ms is not paced further: packets go out at once (counted). */
  maxQueueMs: number
}

/** 20 Mbit/s with 5 ms bursts: a 100 KB keyframe leaves over ~40 ms instead of at once; a 2.5 Mbit/s P-frame passes unqueued. */
export const DEFAULT_PACING: PacingConfig = { bitsPerSecond: 20_000_000, burstMs: 5, maxQueueMs: 500 }

export interface PacingStats {
  bitsPerSecond: number
  queuedPackets: number
  queuedBytes: number
  peakQueuedBytes: number
  /** Packets that waited, and the longest wait (ms). */
  pacedPackets: number
  maxWaitMs: number
  /** Packets sent unpaced because the queue was over maxQueueMs. */
  overflowPackets: number
}

interface Waiting<T> {
  item: T
  size: number
  queuedAt: number
}

/**
 * A token bucket in front of the fan-out. Every stage gets the same stream, so one pacer paces every
 * stage's output alike (and spreads the relay's own work over a keyframe burst): a packet goes out at
 * once while the bucket has room and nothing waits ahead of it; otherwise it queues, in order, and a
 * single timer releases the queue as the bucket refills. `release` gets each item with how long it waited.
 */
export class Pacer<T> {
  private tokens: number
  private lastRefill: number
  private readonly bytesPerMs: number
  private readonly depth: number
  private readonly queue: Waiting<T>[] = []
  private head = 0
  private queuedBytes = 0
  private cancelTimer: (() => void) | null = null
  private readonly counts = { peakQueuedBytes: 0, pacedPackets: 0, maxWaitMs: 0, overflowPackets: 0 }

  constructor(
    private readonly config: PacingConfig,
    private readonly clock: Clock,
    private readonly release: (item: T, waitedMs: number) => void,
    private readonly schedule: Schedule = realSchedule,
  ) {
    this.bytesPerMs = config.bitsPerSecond / 8 / 1000
    this.depth = Math.max(this.bytesPerMs * config.burstMs, 2 * 1500)
    this.tokens = this.depth
    this.lastRefill = clock.now()
  }

  /**
   * May a packet of `size` bytes go now? Yes while the bucket has room and nothing waits ahead of it
   * (its bytes are taken), or when the queue is already over maxQueueMs (counted). Otherwise the
   * caller queues it with `enqueue`. No allocation on the way through.
   */
  admit(size: number): boolean {
    this.refill(this.clock.now())
    if (this.queue.length === this.head && this.tokens >= size) {
      this.tokens -= size
      return true
    }
    if (this.queuedBytes / this.bytesPerMs > this.config.maxQueueMs) {
      // A stream faster than the pace for this long: pacing would only add delay.
      this.counts.overflowPackets++
      return true
    }
    return false
  }

  /** A packet that goes now whatever the bucket says (a repair): its bytes still count. */
  spend(size: number): void {
    this.refill(this.clock.now())
    this.tokens -= size
  }

  /** Queues an item `admit` refused; it must own what it refers to. */
  enqueue(item: T, size: number): void {
    this.queue.push({ item, size, queuedAt: this.clock.now() })
    this.queuedBytes += size
    if (this.queuedBytes > this.counts.peakQueuedBytes) this.counts.peakQueuedBytes = this.queuedBytes
    this.wake()
  }

  stats(): PacingStats {
    return {
      bitsPerSecond: this.config.bitsPerSecond,
      queuedPackets: this.queue.length - this.head,
      queuedBytes: this.queuedBytes,
      ...this.counts,
      maxWaitMs: Math.round(this.counts.maxWaitMs * 10) / 10,
    }
  }

  /** Drops what waits (the publisher went away). */
  clear(): void {
    this.queue.length = 0
    this.head = 0
    this.queuedBytes = 0
    this.cancelTimer?.()
    this.cancelTimer = null
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.depth, this.tokens + (now - this.lastRefill) * this.bytesPerMs)
    this.lastRefill = now
  }

  /** One timer at a time, for when the bucket holds the head of the queue. */
  private wake(): void {
    if (this.cancelTimer || this.queue.length === this.head) return
    const next = this.queue[this.head]!
    const waitMs = Math.max(1, Math.ceil((next.size - this.tokens) / this.bytesPerMs))
    this.cancelTimer = this.schedule(() => {
      this.cancelTimer = null
      this.drain()
    }, waitMs)
  }

  private drain(): void {
    const now = this.clock.now()
    this.refill(now)
    while (this.queue.length > this.head) {
      const next = this.queue[this.head]!
      if (this.tokens < next.size) break
      this.tokens -= next.size
      this.queuedBytes -= next.size
      this.head++
      const waited = now - next.queuedAt
      this.counts.pacedPackets++
      if (waited > this.counts.maxWaitMs) this.counts.maxWaitMs = waited
      this.release(next.item, waited)
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0
      this.head = 0
    }
    this.wake()
  }
}
