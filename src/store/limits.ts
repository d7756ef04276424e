/**
 * Fleet-wide counting the Store offers beside fleet state (DESIGN §7, "Fleet-wide limits"): a rate
 * window of slots (the IVS quota gate), fixed-window request counters (the API rate limit) and
 * short-lived notices (e.g. "the account's stage quota is exhausted"). Every time is passed in.
 */
export interface Limits {
  /**
   * Takes a slot in `name`'s window if fewer than `limit` slots are held in the last `windowMs`,
   * held until `holdUntil` (the longest the call may take) unless ended earlier. 0 when taken;
   * otherwise the milliseconds until the oldest slot leaves the window.
   */
  takeSlot(name: string, member: string, limit: number, windowMs: number, holdUntil: number, now: number): Promise<number>
  /** The call ended: its slot is held for one window from `endedAt`. */
  endSlot(name: string, member: string, endedAt: number): Promise<void>
  /** Slots held in the window now (calls in flight and recent ones). */
  slotsInUse(name: string, windowMs: number, now: number): Promise<number>
  /** Counts one hit in `name`'s fixed window; the count so far and the time left in the window. */
  countHit(name: string, windowMs: number, now: number): Promise<{ count: number; resetInMs: number }>
  /** countHit for many names in one round trip (a name may repeat: each occurrence is a hit). */
  countHits(names: string[], windowMs: number, now: number): Promise<{ count: number; resetInMs: number }[]>
  /** A notice that lasts `ttlMs` (Redis keeps the expiry itself; `now` is for the memory store). */
  putNotice(name: string, value: string, ttlMs: number, now: number): Promise<void>
  getNotice(name: string, now: number): Promise<{ value: string; expiresInMs: number } | null>
}

/** The limits of one process: the memory store's, and the shape the Lua scripts mirror. */
export class LocalLimits implements Limits {
  private readonly windows = new Map<string, Map<string, number>>()
  private readonly counters = new Map<string, { count: number; resetAt: number }>()
  private readonly notices = new Map<string, { value: string; expiresAt: number }>()

  async takeSlot(name: string, member: string, limit: number, windowMs: number, holdUntil: number, now: number): Promise<number> {
    const slots = this.window(name, windowMs, now)
    if (slots.size < limit) {
      slots.set(member, holdUntil)
      return 0
    }
    return Math.max(1, Math.min(...slots.values()) + windowMs - now)
  }

  async endSlot(name: string, member: string, endedAt: number): Promise<void> {
    const slots = this.windows.get(name)
    if (slots?.has(member)) slots.set(member, endedAt)
  }

  async slotsInUse(name: string, windowMs: number, now: number): Promise<number> {
    return this.window(name, windowMs, now).size
  }

  async countHit(name: string, windowMs: number, now: number): Promise<{ count: number; resetInMs: number }> {
    let counter = this.counters.get(name)
    if (!counter || counter.resetAt <= now) {
      if (this.counters.size > 100_000) for (const [key, c] of this.counters) if (c.resetAt <= now) this.counters.delete(key)
      counter = { count: 0, resetAt: now + windowMs }
      this.counters.set(name, counter)
    }
    counter.count++
    return { count: counter.count, resetInMs: counter.resetAt - now }
  }

  async countHits(names: string[], windowMs: number, now: number): Promise<{ count: number; resetInMs: number }[]> {
    const out = []
    for (const name of names) out.push(await this.countHit(name, windowMs, now))
    return out
  }

  async putNotice(name: string, value: string, ttlMs: number, now: number): Promise<void> {
    this.notices.set(name, { value, expiresAt: now + ttlMs })
  }

  async getNotice(name: string, now: number): Promise<{ value: string; expiresInMs: number } | null> {
    const notice = this.notices.get(name)
    return notice && notice.expiresAt > now ? { value: notice.value, expiresInMs: notice.expiresAt - now } : null
  }

  /** The slots of `name` still inside the window (held until a time after `now - windowMs`). */
  private window(name: string, windowMs: number, now: number): Map<string, number> {
    let slots = this.windows.get(name)
    if (!slots) {
      slots = new Map()
      this.windows.set(name, slots)
    }
    for (const [member, until] of slots) if (until <= now - windowMs) slots.delete(member)
    return slots
  }
}
