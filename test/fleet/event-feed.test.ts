import { describe, expect, test } from 'bun:test'
import { EventFeed } from '../../src/fleet/event-feed'
import { createLogger } from '../../src/log'
import { MemoryStore } from '../../src/store/memory'
import type { Store, StoredEvent } from '../../src/store/types'
import { ManualTicker } from '../support/clock'
import { eventually } from '../support/eventually'

/** A feed on `store` with one subscriber collecting `data.n`, and the warnings it logged. */
function follow(store: Store, options: { batch?: number; waitMs?: number } = {}) {
  const ticker = new ManualTicker()
  const sleeps: number[] = []
  const warnings: string[] = []
  const logger = createLogger('warn', {}, (line) => warnings.push(JSON.parse(line).msg))
  const feed = new EventFeed({ store, logger, ticker, sleep: async (ms) => void sleeps.push(ms) }, { pollMs: 250, ...options })
  const seen: unknown[] = []
  feed.subscribe((event) => seen.push(event.data.n))
  return { feed, ticker, seen, sleeps, warnings }
}

const append = (store: Store, ...ns: number[]) => Promise.all(ns.map((n) => store.appendEvent({ type: 'stage_created', data: { n } })))

const ev = (id: string, n: number): StoredEvent => ({ id, type: 'stage_created', data: { n } })

/** The memory store, made to fail its next reads (or its position) on demand. */
class FlakyStore extends MemoryStore {
  /** Which reads (1 = the first) fail. */
  readonly failReads = new Set<number>()
  failPosition = false
  reads = 0

  override async readEvents(afterId: string | null, limit: number): Promise<StoredEvent[]> {
    if (this.failReads.has(++this.reads)) throw new Error('store down')
    return super.readEvents(afterId, limit)
  }

  override async lastEventId(): Promise<string | null> {
    if (this.failPosition) throw new Error('store down')
    return super.lastEventId()
  }
}

describe('EventFeed on a store that is polled (memory, Upstash)', () => {
  test('from where the stream stood at start: later events in order, each once, on the ticker', async () => {
    const store = new MemoryStore()
    await append(store, 1, 2)
    const { feed, ticker, seen } = follow(store)
    await feed.start()
    expect(ticker.intervals).toEqual([250])
    await ticker.fire()
    expect(seen).toEqual([]) // what was there before start is not replayed
    await append(store, 3, 4, 5)
    await ticker.fire()
    await ticker.fire()
    expect(seen).toEqual([3, 4, 5])
    await append(store, 6)
    await Promise.all([feed.poll(), feed.poll(), ticker.fire()]) // overlapping reads share one
    expect(seen).toEqual([3, 4, 5, 6])
    await feed.stop()
    expect(ticker.intervals).toEqual([])
  })

  test('a poll reads batch after batch until the stream is drained', async () => {
    const store = new FlakyStore()
    const { feed, seen } = follow(store, { batch: 2 })
    await feed.start()
    await append(store, 1, 2, 3, 4, 5)
    await feed.poll()
    expect(seen).toEqual([1, 2, 3, 4, 5])
    expect(store.reads).toBe(3)
  })

  test('a failed read is logged and the next poll goes on from the last event delivered: nothing lost, nothing twice', async () => {
    const store = new FlakyStore()
    const { feed, seen, warnings } = follow(store, { batch: 2 })
    await feed.start()
    await append(store, 1, 2, 3)
    store.failReads.add(store.reads + 1)
    await feed.poll()
    expect(seen).toEqual([])
    await feed.poll()
    expect(seen).toEqual([1, 2, 3])
    // Fails between batches: the first batch stays delivered, the rest follows.
    await append(store, 4, 5, 6)
    store.failReads.add(store.reads + 2)
    await feed.poll()
    expect(seen).toEqual([1, 2, 3, 4, 5])
    await feed.poll()
    expect(seen).toEqual([1, 2, 3, 4, 5, 6])
    expect(warnings).toEqual(['event feed read failed', 'event feed read failed'])
  })

  test('the position unknown at start: nothing is delivered until it is, then only what came after', async () => {
    const store = new FlakyStore()
    await append(store, 1)
    store.failPosition = true
    const { feed, seen, warnings } = follow(store)
    await feed.start()
    await append(store, 2)
    await feed.poll()
    expect(seen).toEqual([])
    store.failPosition = false
    await feed.poll() // finds the position (event 2), delivers nothing old
    await append(store, 3)
    await feed.poll()
    expect(seen).toEqual([3])
    expect(warnings).toEqual(['event feed cannot read the stream position yet', 'event feed cannot read the stream position yet'])
  })

  test('a subscriber that throws does not stop the others or the feed; unsubscribed, it hears nothing', async () => {
    const store = new MemoryStore()
    const { feed, seen, warnings } = follow(store)
    const second: unknown[] = []
    const unsubscribe = feed.subscribe((event) => {
      second.push(event.data.n)
      throw new Error('handler broke')
    })
    await feed.start()
    await append(store, 1, 2)
    await feed.poll()
    unsubscribe()
    await append(store, 3)
    await feed.poll()
    expect(seen).toEqual([1, 2, 3])
    expect(second).toEqual([1, 2])
    expect(warnings).toEqual(['event handler failed', 'event handler failed'])
  })

  test('stream ids ("<ms>-<seq>") compare as numbers, and a batch overlapping the last one is delivered once', async () => {
    const store = new MemoryStore()
    const batches: StoredEvent[][] = [
      [ev('1700000000000-9', 1), ev('1700000000000-10', 2)],
      [ev('1700000000000-10', 2), ev('1700000000001-0', 3), ev('1700000000000-11', 0)],
    ]
    store.lastEventId = async () => '1700000000000-8'
    store.readEvents = async () => batches.shift() ?? []
    const { feed, seen } = follow(store)
    await feed.start()
    await feed.poll()
    await feed.poll()
    expect(seen).toEqual([1, 2, 3]) // -11 came after -0 of the next millisecond: older, dropped
  })
})

/** The memory store's stream read the way native Redis reads it: readEvents with waitMs waits for the next event. */
function blockingStore() {
  const memory = new MemoryStore()
  const wakers = new Set<() => void>()
  const state = { failReads: 0, waits: [] as (number | undefined)[] }
  const store = {
    blockingReads: true,
    lastEventId: () => memory.lastEventId(),
    appendEvent: async (event: { type: string; data: Record<string, unknown> }) => {
      const id = await memory.appendEvent(event)
      for (const wake of wakers) wake()
      wakers.clear()
      return id
    },
    async readEvents(afterId: string | null, limit: number, waitMs?: number) {
      state.waits.push(waitMs)
      if (state.failReads > 0 && state.failReads--) throw new Error('connection reset')
      const ready = await memory.readEvents(afterId, limit)
      if (ready.length > 0 || !waitMs) return ready
      await new Promise<void>((resolve) => {
        wakers.add(resolve)
        setTimeout(resolve, waitMs)
      })
      return memory.readEvents(afterId, limit)
    },
  } as unknown as Store
  return { store, state }
}

describe('EventFeed on a store that blocks (native Redis)', () => {
  test('followed by blocking reads, not the ticker: each event arrives once, in order, as it is appended', async () => {
    const { store, state } = blockingStore()
    await append(store, 1)
    const { feed, ticker, seen } = follow(store, { waitMs: 200 })
    await feed.start()
    expect(ticker.intervals).toEqual([])
    await append(store, 2)
    await append(store, 3, 4)
    await eventually('the events arrive', () => seen.length >= 3, 2_000, 5)
    expect(seen).toEqual([2, 3, 4])
    expect(state.waits.every((w) => w === 200)).toBe(true)
    await feed.stop()
  })

  test('failed reads back off (100 ms doubling, at most 2 s), warned once per outage; then it follows again from its cursor', async () => {
    const { store, state } = blockingStore()
    const { feed, seen, sleeps, warnings } = follow(store, { waitMs: 50 })
    state.failReads = 7
    await feed.start()
    await eventually('the reads after the outage', () => sleeps.length === 7 && state.waits.length > 7, 2_000, 5)
    await append(store, 1)
    await eventually('the event after the outage', () => seen.length === 1, 2_000, 5)
    expect(sleeps).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000])
    expect(warnings).toEqual(['event feed read failed; retrying'])
    state.failReads = 1 // the read waiting now ends empty after 50 ms; the one after it fails
    await eventually('the second outage', () => sleeps.length === 8, 2_000, 5)
    await append(store, 2)
    await eventually('the next event', () => seen.length === 2, 2_000, 5)
    expect(seen).toEqual([1, 2])
    expect(sleeps.slice(7)).toEqual([100]) // a new outage starts from the shortest pause
    expect(warnings).toHaveLength(2)
    await feed.stop()
  })
})
