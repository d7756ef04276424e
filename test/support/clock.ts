import type { Clock } from '../../src/clock'
import type { Schedule, Ticker } from '../../src/ticker'

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

  /** Fires every registered task once (only those of `intervalMs` when given) and waits for the promises they return. */
  async fire(intervalMs?: number): Promise<void> {
    await Promise.all([...this.tasks].filter((task) => intervalMs === undefined || task.intervalMs === intervalMs).map((task) => task.tick()))
  }

  /** Intervals of the tasks still registered. */
  get intervals(): number[] {
    return [...this.tasks].map((task) => task.intervalMs)
  }
}

/** A Schedule tests run by hand: `runDue` fires what was scheduled, in order of its delay. */
export class ManualSchedule {
  private readonly waiting = new Set<{ fn: () => void; ms: number }>()

  readonly schedule: Schedule = (fn, ms) => {
    const entry = { fn, ms }
    this.waiting.add(entry)
    return () => {
      this.waiting.delete(entry)
    }
  }

  /** Delays of what is waiting. */
  get delays(): number[] {
    return [...this.waiting].map((entry) => entry.ms)
  }

  /** Runs everything waiting now (not what those runs schedule). */
  runAll(): void {
    const due = [...this.waiting].sort((a, b) => a.ms - b.ms)
    this.waiting.clear()
    for (const entry of due) entry.fn()
  }
}
