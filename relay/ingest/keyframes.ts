import { type Clock, monotonicClock } from '../../src/clock'

/**
 * Asks the publisher for a keyframe at most once per `minIntervalMs` over all stages: a stage that
 * opens or sends PLI/FIR triggers a request at once when allowed, otherwise when the interval ends
 * (so a request is never lost, only merged).
 */
export class KeyframeRequester {
  private lastAt = Number.NEGATIVE_INFINITY
  private timer: Timer | null = null
  private sentCount = 0

  constructor(
    private readonly send: () => boolean,
    private readonly options: { minIntervalMs: number },
    private readonly clock: Clock = monotonicClock,
  ) {}

  /** Keyframe requests that went out. */
  get sent(): number {
    return this.sentCount
  }

  request(): void {
    const wait = this.lastAt + this.options.minIntervalMs - this.clock.now()
    if (wait <= 0) {
      this.fire()
      return
    }
    this.timer ??= setTimeout(() => {
      this.timer = null
      this.fire()
    }, wait)
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  /** Only a request that went out starts the interval: one made before the publisher's track opened is not lost. */
  private fire(): void {
    if (!this.send()) return
    this.lastAt = this.clock.now()
    this.sentCount++
  }
}

const KEYFRAME_INTERVALS_KEPT = 8

/** The publisher's keyframe interval from the RTP timestamps (90 kHz) of the keyframes it sends. */
export class KeyframeIntervals {
  private lastTimestamp: number | null = null
  private readonly intervals: number[] = []

  /** A packet starting a keyframe with this RTP timestamp (the same keyframe's other packets count once). */
  note(timestamp: number): void {
    if (timestamp === this.lastTimestamp) return
    if (this.lastTimestamp !== null) {
      const ms = ((timestamp - this.lastTimestamp) >>> 0) / 90
      // A wrap or a new stream gives nonsense: only plausible intervals count.
      if (ms > 0 && ms < 60_000) {
        this.intervals.push(ms)
        if (this.intervals.length > KEYFRAME_INTERVALS_KEPT) this.intervals.shift()
      }
    }
    this.lastTimestamp = timestamp
  }

  /** The median of the last few intervals, ms (null before two keyframes). */
  get medianMs(): number | null {
    if (this.intervals.length === 0) return null
    const sorted = [...this.intervals].sort((a, b) => a - b)
    return Math.round(sorted[Math.floor(sorted.length / 2)]!)
  }
}
