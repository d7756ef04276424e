/** Exponential backoff with full jitter (AWS's recommendation): uniform in [0, min(cap, base·2^attempt)]. */
export function backoffDelay(attempt: number, options: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}
