/**
 * A Map with a size cap that forgets the least recently used keys first, for per-client state kept
 * in memory (rate windows, failed logins): a flood of distinct keys costs a bounded amount of memory
 * instead of growing with the flood.
 *
 * Two generations of half the cap each: new and recently read keys live in `current`; when it is
 * full it becomes `previous` and the old `previous` is dropped whole. Every operation is O(1). (Taking
 * the oldest key off one Map with `keys().next()` looks O(1) but walks the deleted slots at its head,
 * so under a flood it went quadratic: 12 s for 400,000 keys.)
 */
export class LruMap<K, V> {
  private current = new Map<K, V>()
  private previous = new Map<K, V>()
  private readonly generation: number
  private evictedCount = 0

  constructor(readonly maxEntries: number) {
    if (!(maxEntries >= 2)) throw new Error('maxEntries must be at least 2')
    this.generation = Math.floor(maxEntries / 2)
  }

  get size(): number {
    return this.current.size + this.previous.size
  }

  /** Entries dropped to stay under the cap, since start. */
  get evicted(): number {
    return this.evictedCount
  }

  get(key: K): V | undefined {
    const value = this.current.get(key)
    if (value !== undefined) return value
    const old = this.previous.get(key)
    if (old !== undefined) this.set(key, old)
    return old
  }

  set(key: K, value: V): void {
    if (this.current.has(key)) {
      this.current.set(key, value)
      return
    }
    this.previous.delete(key)
    this.current.set(key, value)
    if (this.current.size >= this.generation) {
      this.evictedCount += this.previous.size
      this.previous = this.current
      this.current = new Map()
    }
  }

  delete(key: K): boolean {
    return this.current.delete(key) || this.previous.delete(key)
  }

  /** Removes every entry `stale` says is done with (e.g. an expired window). */
  prune(stale: (value: V) => boolean): void {
    for (const map of [this.current, this.previous]) for (const [key, value] of map) if (stale(value)) map.delete(key)
  }
}
