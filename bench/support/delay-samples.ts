/** Forwarding delay samples, kept in a ring for percentiles, with the maximum of the window. */
export class DelaySamples {
  private readonly ring: Float64Array
  private count = 0
  max = 0

  constructor(size = 65_536) {
    this.ring = new Float64Array(size)
  }

  record(ms: number): void {
    if (ms > this.max) this.max = ms
    this.ring[this.count++ % this.ring.length] = ms
  }

  percentiles(): { p50: number; p99: number; samples: number } {
    const n = Math.min(this.count, this.ring.length)
    const sorted = Float64Array.from(this.ring.subarray(0, n)).sort()
    const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]!)
    return { p50: at(0.5), p99: at(0.99), samples: n }
  }

  reset(): void {
    this.count = 0
    this.max = 0
  }
}
