import type { Schedule } from '../ticker'

/** A hybrid stage whose origin had no source yet is asked again after each of these (15.75 s in all; the relay joins a new origin in well under a second). */
export const FOLLOW_UPS_MS = [250, 500, 1_000, 2_000, 4_000, 8_000]

/**
 * Work asked again after growing delays while it says so (replication.ts: a new stage whose origin
 * has no source yet), bounded by the list of delays; what still waits is cancelled at close.
 */
export class FollowUps {
  private readonly waiting = new Set<() => void>()
  private closed = false

  constructor(
    private readonly schedule: Schedule,
    private readonly delays: readonly number[] = FOLLOW_UPS_MS,
  ) {}

  /** Runs `ask` after the next delay, and again after the one after while it answers true. */
  start(ask: () => Promise<boolean>, attempt = 0): void {
    const delay = this.delays[attempt]
    if (delay === undefined || this.closed) return
    const cancel = this.schedule(() => {
      this.waiting.delete(cancel)
      void ask().then((again) => {
        if (again) this.start(ask, attempt + 1)
      })
    }, delay)
    this.waiting.add(cancel)
  }

  close(): void {
    this.closed = true
    for (const cancel of this.waiting) cancel()
    this.waiting.clear()
  }
}
