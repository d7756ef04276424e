import type { Ticker } from '../ticker'

/** A round of work run on a ticker: rounds never overlap (a tick during one shares it), and stop waits for the one in progress. */
export class Periodic {
  private cancel: (() => void) | null = null
  private running: Promise<void> | null = null

  constructor(
    private readonly ticker: Ticker,
    private readonly intervalMs: number,
    private readonly round: () => Promise<void>,
  ) {}

  start(): void {
    this.cancel ??= this.ticker.every(this.intervalMs, () => this.tick())
  }

  tick(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = null
    })
    return this.running
  }

  async stop(): Promise<void> {
    this.cancel?.()
    this.cancel = null
    await this.running
  }
}
