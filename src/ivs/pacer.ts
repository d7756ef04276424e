import type { Clock } from '../clock'
import { AppError } from '../errors'

export interface CallPacerOptions {
  /** Calls that IVS may receive in any window. */
  limit: number
  windowMs: number
  /** A caller that would wait longer than this for its turn is refused at once. */
  maxWaitMs: number
  clock: Clock
  /** Names what is paced, for the refusal message. */
  name: string
}

/** Call it once the call has its answer (or has failed). */
export type ReleaseSlot = () => void

/**
 * Lets calls start in arrival order so that the server never receives more than `limit` of them in
 * any `windowMs`. A call holds its slot while in flight and for a full window after it ended: the
 * server saw it before we got the answer, so neither send-side delays (signing, connection set-up)
 * nor network jitter can bunch more than `limit` arrivals into one window, which pacing on start
 * times alone (or a token bucket's bursts) cannot promise.
 */
export class CallPacer {
  private inFlight = 0
  /** End times of finished calls still inside the window, oldest first. */
  private readonly ends: number[] = []
  private readonly queue: ((release: ReleaseSlot) => void)[] = []
  private timer: ReturnType<typeof setTimeout> | null = null

  constructor(private readonly options: CallPacerOptions) {}

  get queued(): number {
    return this.queue.length
  }

  /** Resolves with the slot's release when the caller may send; rejects with 503 when the wait would be too long. */
  acquire(): Promise<ReleaseSlot> {
    const now = this.options.clock.now()
    if (this.queue.length === 0 && this.occupied(now) < this.options.limit) return Promise.resolve(this.take())
    this.occupied(now) // drops ends that left the window
    const waitMs = this.estimatedStart(this.queue.length, now) - now
    if (waitMs > this.options.maxWaitMs) {
      return Promise.reject(
        new AppError(
          'UPSTREAM_UNAVAILABLE',
          `too many ${this.options.name} calls waiting for IVS's rate quota (${this.options.limit} per ${this.options.windowMs} ms); retry shortly`,
          { queued: this.queue.length },
          Math.max(1, Math.ceil(waitMs / 1000)),
        ),
      )
    }
    return new Promise<ReleaseSlot>((resolve) => {
      this.queue.push(resolve)
      this.drain()
    })
  }

  private occupied(now: number): number {
    while (this.ends.length > 0 && this.ends[0]! <= now - this.options.windowMs) this.ends.shift()
    return this.inFlight + this.ends.length
  }

  private take(): ReleaseSlot {
    this.inFlight++
    let released = false
    return () => {
      if (released) return
      released = true
      this.inFlight--
      this.ends.push(this.options.clock.now())
      this.drain()
    }
  }

  private drain(): void {
    const now = this.options.clock.now()
    while (this.queue.length > 0 && this.occupied(now) < this.options.limit) this.queue.shift()!(this.take())
    if (this.queue.length === 0 || this.timer !== null || this.ends.length === 0) return
    // Otherwise every slot is in flight, and a release calls drain again.
    const delay = Math.max(1, this.ends[0]! + this.options.windowMs - now)
    this.timer = setTimeout(() => {
      this.timer = null
      this.drain()
    }, delay)
  }

  /**
   * A lower bound on when the caller at `position` in the queue may start, taking calls in flight
   * as ending now and queued calls as ending when they start: call j waits for call j - limit's
   * slot to leave the window.
   */
  private estimatedStart(position: number, now: number): number {
    const { limit, windowMs } = this.options
    const slots = [...this.ends, ...Array<number>(this.inFlight).fill(now)]
    let index = slots.length + position
    let rounds = 0
    while (index >= limit && index - limit >= slots.length) {
      index -= limit
      rounds++
    }
    const first = index >= limit ? Math.max(now, slots[index - limit]! + windowMs) : now
    return first + windowMs * rounds
  }
}
