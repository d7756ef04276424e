import { describe, expect, test } from 'bun:test'
import { decideFeeder, FEED_TIE_MS, type FeedCandidate } from '../../src/fleet/feeding'
import { RelayService } from '../../src/fleet/relays'
import { silentLogger } from '../../src/log'
import { MemoryStore } from '../../src/store/memory'
import { ManualClock } from '../support/clock'

const relay = (serverId: string, publisherSince: number | null | undefined, over: Partial<FeedCandidate> = {}): FeedCandidate => ({
  serverId,
  online: true,
  publisherActive: publisherSince !== null,
  publisherSince,
  ...over,
})

describe('decideFeeder (pure): one feeding relay', () => {
  test('none without a connected publisher; the one relay holding one feeds', () => {
    expect(decideFeeder([], null)).toBeNull()
    expect(decideFeeder([relay('a', null), relay('b', null)], 'a')).toBeNull()
    // An offer still being answered (active, not connected yet) takes nothing.
    expect(decideFeeder([relay('a', null, { publisherActive: true })], null)).toBeNull()
    expect(decideFeeder([relay('a', null), relay('b', 5_000)], null)).toBe('b')
    // An offline relay's word does not count.
    expect(decideFeeder([relay('a', 9_000, { online: false }), relay('b', 5_000)], null)).toBe('b')
    expect(decideFeeder([relay('a', 9_000, { online: false })], 'a')).toBeNull()
  })

  test('several: the most recent publisher (the broadcaster moved there); the current one kept on a tie', () => {
    // a has fed since 1 000; the broadcaster reconnects to b at 60 000 before a notices: b.
    expect(decideFeeder([relay('a', 1_000), relay('b', 60_000)], 'a')).toBe('b')
    // ...and b is kept while it holds its publisher, a's stale one notwithstanding.
    expect(decideFeeder([relay('a', 1_000), relay('b', 60_000)], 'b')).toBe('b')
    // Within FEED_TIE_MS of each other (or equal): the current feeder keeps the stages.
    expect(decideFeeder([relay('a', 1_000), relay('b', 1_000 + FEED_TIE_MS)], 'a')).toBe('a')
    expect(decideFeeder([relay('a', 1_000), relay('b', 1_000 + FEED_TIE_MS + 1)], 'a')).toBe('b')
    // No current feeder among them: the newest; equal times go to the lowest serverId.
    expect(decideFeeder([relay('b', 1_000), relay('a', 1_000)], null)).toBe('a')
    expect(decideFeeder([relay('b', 1_000), relay('a', 1_000)], 'gone')).toBe('a')
  })

  test('a relay that does not say when (the original media server) is older than any that does', () => {
    expect(decideFeeder([relay('legacy', undefined)], null)).toBe('legacy')
    expect(decideFeeder([relay('legacy', undefined), relay('b', 5)], 'legacy')).toBe('b')
    expect(decideFeeder([relay('legacy-2', undefined), relay('legacy-1', undefined)], 'legacy-2')).toBe('legacy-2')
    expect(decideFeeder([relay('legacy-2', undefined), relay('legacy-1', undefined)], null)).toBe('legacy-1')
  })
})

describe('RelayService: the feeding relay from the heartbeats (memory store, manual clock)', () => {
  const TIMEOUT = 90_000
  function setUp() {
    const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
    const store = new MemoryStore()
    const events: { type: string; data: Record<string, unknown> }[] = []
    const publish = async (type: string, data: Record<string, unknown>) => void events.push({ type, data })
    const service = (own = store) =>
      new RelayService({ store: own, clock, logger: silentLogger, events: { publish } }, { offlineAfterMs: TIMEOUT, probeIntervalMs: 5_000 })
    const feeds = () => events.filter((e) => e.type === 'feeding_relay').map((e) => e.data.serverId)
    return { clock, store, events, service, feeds }
  }
  const beat = (serverId: string, publisherAgeMs: number | null) => ({
    serverId,
    publisherActive: publisherAgeMs !== null,
    connectedStages: [] as string[],
    publisherAgeMs,
  })

  test('registered relays without a publisher: nobody feeds; the relay whose publisher connects feeds at its heartbeat', async () => {
    const { service, feeds } = setUp()
    const relays = service()
    for (const serverId of ['a', 'b']) await relays.register({ serverId, ipAddress: '10.0.0.1', port: 3001 })
    await relays.heartbeat(beat('a', null))
    await relays.heartbeat(beat('b', null))
    expect(await relays.feeding('a')).toEqual({ feeding: false, feedingRelay: null })
    expect(feeds()).toEqual([])
    await relays.heartbeat(beat('a', 0))
    expect(await relays.feeding('a')).toEqual({ feeding: true, feedingRelay: 'a' })
    expect(await relays.feeding('b')).toEqual({ feeding: false, feedingRelay: 'a' })
    expect((await relays.publisherState()).serverId).toBe('a')
    expect(feeds()).toEqual(['a'])
  })

  test('the broadcaster moves to b: b feeds at its heartbeat, though a still reports its old publisher; a leaving changes nothing more', async () => {
    const { clock, service, events, feeds } = setUp()
    const relays = service()
    for (const serverId of ['a', 'b']) await relays.register({ serverId, ipAddress: '10.0.0.1', port: 3001 })
    await relays.heartbeat(beat('a', 0))
    clock.advance(30_000)
    await relays.heartbeat(beat('a', 30_000))
    await relays.heartbeat(beat('b', 0))
    expect(await relays.feeding('b')).toEqual({ feeding: true, feedingRelay: 'b' })
    // a's periodic heartbeat with its stale publisher does not take the stages back.
    clock.advance(2_000)
    await relays.heartbeat(beat('a', 32_000))
    await relays.heartbeat(beat('b', 2_000))
    await relays.heartbeat(beat('a', null))
    expect(feeds()).toEqual(['a', 'b'])
    const change = events.find((e) => e.type === 'feeding_relay' && e.data.serverId === 'b')!
    expect(change.data.timestamp).toBe(new Date(Date.UTC(2026, 11, 1, 12) + 30_000).toISOString())
    // The publisher stayed active throughout: one publisher_state event.
    expect(events.filter((e) => e.type === 'publisher_state').map((e) => e.data.active)).toEqual([true])
    // b's publisher leaves: nobody feeds.
    await relays.heartbeat(beat('b', null))
    expect(await relays.feeding('b')).toEqual({ feeding: false, feedingRelay: null })
    expect(feeds()).toEqual(['a', 'b', null])
  })

  test("the feeding relay silent past MEDIA_SERVER_TIMEOUT_MS (killed) while nobody else holds a publisher: nobody feeds, at the leader's round", async () => {
    const { clock, service, feeds } = setUp()
    const relays = service()
    for (const serverId of ['a', 'b']) await relays.register({ serverId, ipAddress: '10.0.0.1', port: 3001 })
    await relays.heartbeat(beat('a', 0))
    clock.advance(TIMEOUT + 1)
    await relays.heartbeat(beat('b', null))
    expect(await relays.expireSilent()).toEqual(['a'])
    expect(feeds()).toEqual(['a', null])
  })

  test("two instances on one store agree whichever gets the heartbeat; a stale decision is put right at the leader's round", async () => {
    const { clock, store, service, feeds } = setUp()
    const [one, two] = [service(store), service(store)]
    for (const serverId of ['a', 'b']) await one.register({ serverId, ipAddress: '10.0.0.1', port: 3001 })
    await one.heartbeat(beat('a', 0))
    clock.advance(10_000)
    // b's publisher connects (heartbeat to instance two) while a's periodic one reaches instance one.
    await Promise.all([two.heartbeat(beat('b', 0)), one.heartbeat(beat('a', 10_000)), one.heartbeat(beat('a', 10_000))])
    expect(await one.feeding('b')).toEqual({ feeding: true, feedingRelay: 'b' })
    expect(await two.feeding('a')).toEqual({ feeding: false, feedingRelay: 'b' })
    // The leader's round re-asserts the decision from the records: nothing changes.
    await one.expireSilent()
    await two.expireSilent()
    expect(feeds()).toEqual(['a', 'b'])
    // A stale decision (an instance on another host that read the records before b's heartbeat and
    // wrote after) is put right by the leader's next round (at most a tick: 1 s), with an event.
    await store.setPublisherState({ active: true, updatedAt: clock.now(), serverId: 'a', source: 'relay' })
    clock.advance(500)
    await one.expireSilent()
    expect(await two.feeding('b')).toEqual({ feeding: true, feedingRelay: 'b' })
    expect(feeds()).toEqual(['a', 'b', 'b'])
  })
})
