import { realSleep, type Sleep } from '../clock'
import { describeError } from '../errors'
import type { Logger } from '../log'
import type { Store, StoredEvent } from '../store/types'
import type { Ticker } from '../ticker'

export interface EventFeedOptions {
  /** Polling interval for stores that cannot block (memory, Upstash REST). */
  pollMs: number
  /** How long one blocking read waits for new events (native Redis). */
  waitMs?: number
  batch?: number
}

/** Stream ids ("<ms>-<seq>", or a plain counter for the memory store) in order. */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

/**
 * Follows the store's event stream from where it stood at start, in order, and hands each event
 * to the subscribers once. Every instance runs one, so events from any instance reach all sockets.
 * A store that can block (native Redis) is followed by blocking reads, one after the other, so an
 * event arrives within milliseconds; the others are polled on the ticker.
 */
export class EventFeed {
  private lastId: string | null = null
  /** Until the stream's position is known nothing is delivered (else old events would replay). */
  private positioned = false
  private readonly subscribers = new Set<(event: StoredEvent) => void>()
  private cancel: (() => void) | null = null
  private polling: Promise<void> | null = null
  private following = false
  private readonly sleep: Sleep

  constructor(
    private readonly deps: { store: Store; logger: Logger; ticker: Ticker; sleep?: Sleep },
    private readonly options: EventFeedOptions,
  ) {
    this.sleep = deps.sleep ?? realSleep
  }

  subscribe(handler: (event: StoredEvent) => void): () => void {
    this.subscribers.add(handler)
    return () => this.subscribers.delete(handler)
  }

  async start(): Promise<void> {
    await this.position()
    if (this.deps.store.blockingReads) {
      this.following = true
      void this.follow()
    } else this.cancel = this.deps.ticker.every(this.options.pollMs, () => this.poll())
  }

  /** Stops reading; a blocking read still waiting ends when the store is closed. */
  stop(): Promise<void> {
    this.following = false
    this.cancel?.()
    this.cancel = null
    return this.polling ?? Promise.resolve()
  }

  /** Reads everything new; overlapping calls share one read so nothing is delivered twice. */
  poll(): Promise<void> {
    this.polling ??= this.drain().finally(() => {
      this.polling = null
    })
    return this.polling
  }

  private async position(): Promise<void> {
    try {
      this.lastId = await this.deps.store.lastEventId()
      this.positioned = true
    } catch (error) {
      this.deps.logger.warn('event feed cannot read the stream position yet', { error: describeError(error) })
    }
  }

  private async drain(): Promise<void> {
    if (!this.positioned) return this.position()
    const batch = this.options.batch ?? 500
    try {
      for (;;) {
        const events = await this.deps.store.readEvents(this.lastId, batch)
        this.deliver(events)
        if (events.length < batch) return
      }
    } catch (error) {
      this.deps.logger.warn('event feed read failed', { error: describeError(error) })
    }
  }

  private async follow(): Promise<void> {
    const batch = this.options.batch ?? 500
    for (let failures = 0; this.following; ) {
      if (!this.positioned) await this.position()
      try {
        if (this.positioned) {
          this.deliver(await this.deps.store.readEvents(this.lastId, batch, this.options.waitMs ?? 2_000))
          failures = 0
          continue
        }
      } catch (error) {
        if (!this.following) return
        if (failures === 0) this.deps.logger.warn('event feed read failed; retrying', { error: describeError(error) })
      }
      await this.sleep(Math.min(2_000, 100 * 2 ** failures++))
    }
  }

  /** Hands over events newer than the last one delivered, whoever read them. */
  private deliver(events: StoredEvent[]): void {
    for (const event of events) {
      if (this.lastId !== null && compareIds(event.id, this.lastId) <= 0) continue
      this.lastId = event.id
      for (const handler of this.subscribers) {
        try {
          handler(event)
        } catch (error) {
          this.deps.logger.warn('event handler failed', { type: event.type, error: describeError(error) })
        }
      }
    }
  }
}
