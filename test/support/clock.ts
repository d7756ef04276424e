import type { Clock } from '../../src/clock'
import type { Ticker } from '../../src/ticker'

/** A clock tests advance by hand. */
export class ManualClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.current
  }
  advance(ms: number): void {
    this.current += ms
  }
  set(ms: number): void {
    this.current = ms
  }
}

/** A ticker tests fire by hand. */
export class ManualTicker implements Ticker {
  private readonly tasks = new Set<{ intervalMs: number; tick: () => unknown }>()

  every(intervalMs: number, tick: () => unknown): () => void {
    const task = { intervalMs, tick }
    this.tasks.add(task)
    return () => {
      this.tasks.delete(task)
    }
  }

  /** Fires every registered task once and waits for the promises they return. */
  async fire(): Promise<void> {
    await Promise.all([...this.tasks].map((task) => task.tick()))
  }

  /** Intervals of the tasks still registered. */
  get intervals(): number[] {
    return [...this.tasks].map((task) => task.intervalMs)
  }
}
