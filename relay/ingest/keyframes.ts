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
