import { describeError } from '../errors'
import type { Logger } from '../log'
import type { Store, StoredEvent } from '../store/types'
import type { Ticker } from '../ticker'

/**
 * Follows the store's event stream from where it stood at start, in order, and hands each event
 * to the subscribers once. Every instance runs one, so events from any instance reach all sockets.
 */
export class EventFeed {
  private lastId: string | null = null
  /** Until the stream's position is known nothing is delivered (else old events would replay). */
  private positioned = false
  private readonly subscribers = new Set<(event: StoredEvent) => void>()
  private cancel: (() => void) | null = null
  private polling: Promise<void> | null = null

  constructor(
    private readonly deps: { store: Store; logger: Logger; ticker: Ticker },
    private readonly options: { pollMs: number; batch?: number },
  ) {}

  subscribe(handler: (event: StoredEvent) => void): () => void {
    this.subscribers.add(handler)
    return () => this.subscribers.delete(handler)
  }

  async start(): Promise<void> {
    await this.position()
    this.cancel = this.deps.ticker.every(this.options.pollMs, () => this.poll())
  }

  stop(): Promise<void> {
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
        for (const event of events) {
          this.lastId = event.id
          for (const handler of this.subscribers) {
            try {
              handler(event)
            } catch (error) {
              this.deps.logger.warn('event handler failed', { type: event.type, error: describeError(error) })
            }
          }
        }
        if (events.length < batch) return
      }
    } catch (error) {
      this.deps.logger.warn('event feed read failed', { error: describeError(error) })
    }
  }
}
