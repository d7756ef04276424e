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

/** Runs `fn` once after `ms`; returns how to cancel it (tests pass a manual one). */
export type Schedule = (fn: () => void, ms: number) => () => void

export const realSchedule: Schedule = (fn, ms) => {
  const timer = setTimeout(fn, ms)
  return () => clearTimeout(timer)
}
