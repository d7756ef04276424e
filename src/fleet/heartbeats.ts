import type { Clock } from '../clock'
import type { HeartbeatEntry, HeartbeatOutcome, Store } from '../store/types'
import type { HeartbeatBatchSettings } from './settings'

interface Pending extends HeartbeatEntry {
  resolve(outcome: HeartbeatOutcome): void
  reject(error: unknown): void
}

/**
 * Coalesces heartbeats: everything submitted within `windowMs` is written as one store call
 * (one Lua script in one REST request for Upstash). A window of 0 writes each one directly.
 */
export class HeartbeatBatcher {
  private pending: Pending[] = []
  private timer: Timer | null = null

  constructor(
    private readonly deps: { store: Store; clock: Clock },
    private readonly options: HeartbeatBatchSettings,
  ) {}

  submit(entry: HeartbeatEntry): Promise<HeartbeatOutcome> {
    if (this.options.windowMs <= 0) return this.deps.store.heartbeat([entry], this.deps.clock.now()).then((o) => o[0]!)
    return new Promise((resolve, reject) => {
      this.pending.push({ ...entry, resolve, reject })
      if (this.pending.length >= this.options.maxBatch) void this.flush()
      else this.timer ??= setTimeout(() => void this.flush(), this.options.windowMs)
    })
  }

  /** Writes what is pending now (also called on shutdown). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const batch = this.pending
    this.pending = []
    if (batch.length === 0) return
    try {
      const outcomes = await this.deps.store.heartbeat(batch, this.deps.clock.now())
      batch.forEach((p, i) => p.resolve(outcomes[i]!))
    } catch (error) {
      for (const p of batch) p.reject(error)
    }
  }
}
