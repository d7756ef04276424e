/** Runs a task on an interval; injected so tests fire ticks by hand instead of waiting. */
export interface Ticker {
  /** Calls `tick` every `intervalMs`; returns a function that cancels it. */
  every(intervalMs: number, tick: () => unknown): () => void
}

export const systemTicker: Ticker = {
  every(intervalMs, tick) {
    const timer = setInterval(tick, intervalMs)
    // A periodic background task alone must not keep the process alive.
    timer.unref?.()
    return () => clearInterval(timer)
  },
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
