export type Dimensions = Record<string, string>

export interface CounterSample {
  name: string
  dimensions: Dimensions
  value: number
}

export const counterKey = (name: string, dimensions: Dimensions) => {
  const dims = Object.keys(dimensions)
    .sort()
    .map((k) => `${k}=${dimensions[k]}`)
    .join(',')
  return dims ? `${name}|${dims}` : name
}

/** In-process totals since start, cheap enough for the hot path; publishers keep their own last-sent marks. */
export class Counters {
  private readonly values = new Map<string, CounterSample>()

  add(name: string, value = 1, dimensions: Dimensions = {}): void {
    const key = counterKey(name, dimensions)
    const sample = this.values.get(key)
    if (sample) sample.value += value
    else this.values.set(key, { name, dimensions, value })
  }

  /** Totals since start (for /metrics). */
  snapshot(): CounterSample[] {
    return [...this.values.values()].map((s) => ({ ...s, dimensions: { ...s.dimensions } }))
  }
}
