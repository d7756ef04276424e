/** Time source passed to everything that decides by time, so tests can move time instead of sleeping. */
export interface Clock {
  now(): number
}

/** Wall-clock milliseconds since the epoch. */
export const systemClock: Clock = { now: () => Date.now() }

/** Monotonic milliseconds (for intervals and timeouts that must not jump with the wall clock). */
export const monotonicClock: Clock = { now: () => performance.now() }

/** Real waiting, injected beside the clock so tests can replace it. */
export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
