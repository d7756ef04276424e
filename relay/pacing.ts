/** Egress pacing for one stage: libdatachannel's PacingHandler does the sending; this mirrors its queue. */
export interface PacingConfig {
  /** The pace a stage's video leaves at (bits/s); a keyframe burst is spread at this rate. */
  bitsPerSecond: number
  /** How often the pacer sends (ms); at most one interval's worth of bytes goes out at once. */
  intervalMs: number
}

/** 20 Mbit/s in 5 ms slots: a 100 KB keyframe leaves over ~40 ms instead of in one burst. */
export const DEFAULT_PACING: PacingConfig = { bitsPerSecond: 20_000_000, intervalMs: 5 }

/**
 * The pacer's queue depth, modelled: PacingHandler keeps no count the binding exposes, but it drains
 * at a known rate, so bytes in − rate × time is its queue (a token bucket seen from the other side).
 */
export class PacingQueueModel {
  private bytes = 0
  private lastAt = 0
  private peak = 0
  private readonly bytesPerMs: number

  constructor(config: PacingConfig) {
    this.bytesPerMs = config.bitsPerSecond / 8 / 1000
  }

  /** A packet handed to the pacer at `now` (monotonic ms). */
  add(size: number, now: number): void {
    this.bytes = Math.max(0, this.bytes - (now - this.lastAt) * this.bytesPerMs) + size
    this.lastAt = now
    if (this.bytes > this.peak) this.peak = this.bytes
  }

  /** Bytes queued now, and the most ever queued. */
  depth(now: number): { bytes: number; peakBytes: number; delayMs: number } {
    const bytes = Math.max(0, this.bytes - (now - this.lastAt) * this.bytesPerMs)
    return { bytes: Math.round(bytes), peakBytes: Math.round(this.peak), delayMs: bytes / this.bytesPerMs }
  }
}
