import { describe, expect, test } from 'bun:test'
import { fleetSessionKey, SESSION_KEY_REFRESH_MS, SESSION_KEY_SECRET, SessionKeyKeeper } from '../../src/fleet/session-key'
import { ViewerSessions } from '../../src/fleet/viewer-session'
import { createLogger } from '../../src/log'
import { MemoryStore } from '../../src/store/memory'
import { ManualTicker } from '../support/clock'

const claims = { userId: 'viewer-1', participantId: 'p1', stageArn: 'arn:aws:ivs:us-east-1:000000000000:stage/AbCdEf123456', exp: 2_000_000_000 }

/** A store whose data can be lost (FLUSHALL): the instances keep talking to "the same" store. */
class LosableStore {
  current = new MemoryStore()
  down = false
  sharedSecret(name: string, candidate: string): Promise<string> {
    return this.down ? Promise.reject(new Error('connection refused')) : this.current.sharedSecret(name, candidate)
  }
  lose(): void {
    this.current = new MemoryStore()
  }
}

/** One serve instance's keeper, with its own sessions; each instance draws its own random bytes. */
function instance(store: LosableStore, fill: number) {
  const sessions = new ViewerSessions()
  const ticker = new ManualTicker()
  const warnings: string[] = []
  const logger = createLogger('info', {}, (line) => warnings.push(JSON.parse(line).msg))
  const keeper = new SessionKeyKeeper({ store, sessions, ticker, logger, randomBytes: (n) => new Uint8Array(n).fill(fill) })
  return { sessions, ticker, keeper, warnings, verifies: (token: string) => sessions.verify(token, 1_000) !== null }
}

describe("the fleet's viewer-session key", () => {
  test('made once (set-if-absent, 32 random bytes) and read by every instance: sessions signed on one verify on the others', async () => {
    const store = new LosableStore()
    const [a, b] = [instance(store, 1), instance(store, 2)]
    await Promise.all([a.keeper.load(), b.keeper.load()])
    expect(Buffer.from(await store.sharedSecret(SESSION_KEY_SECRET, 'x'), 'base64url').equals(Buffer.alloc(32, 1))).toBe(true)
    expect([b.verifies(a.sessions.sign(claims)), a.verifies(b.sessions.sign(claims))]).toEqual([true, true])
    // Another fleet (another store) has another key.
    const other = instance(new LosableStore(), 3)
    await other.keeper.load()
    expect(other.verifies(a.sessions.sign(claims))).toBe(false)
  })

  test('the store down at start: load throws (the fleet start retries it), nothing can be signed; a refresh never throws', async () => {
    const store = new LosableStore()
    store.down = true
    const a = instance(store, 1)
    await expect(a.keeper.load()).rejects.toThrow('connection refused')
    expect(a.sessions.ready).toBe(false)
    a.keeper.start()
    await a.ticker.fire(SESSION_KEY_REFRESH_MS)
    store.down = false
    await a.ticker.fire(SESSION_KEY_REFRESH_MS)
    expect(a.sessions.ready).toBe(true)
  })

  test('the store loses its data: the running instances put their key back before a new instance starts, so it reads theirs', async () => {
    const store = new LosableStore()
    const a = instance(store, 1)
    await a.keeper.load()
    a.keeper.start()
    const before = a.sessions.sign(claims)
    store.lose()
    await a.ticker.fire(SESSION_KEY_REFRESH_MS)
    const c = instance(store, 9)
    await c.keeper.load()
    expect([c.verifies(before), a.verifies(c.sessions.sign(claims)), a.warnings]).toEqual([true, true, []])
  })

  test('the store loses its data and a new instance makes another key first: the running ones move to it, still accepting their own', async () => {
    const store = new LosableStore()
    const [a, b] = [instance(store, 1), instance(store, 2)]
    await Promise.all([a.keeper.load(), b.keeper.load()])
    a.keeper.start()
    b.keeper.start()
    const before = a.sessions.sign(claims)
    store.lose()
    const c = instance(store, 9)
    await c.keeper.load()
    await Promise.all([a.ticker.fire(SESSION_KEY_REFRESH_MS), b.ticker.fire(SESSION_KEY_REFRESH_MS)])
    const afterA = a.sessions.sign(claims)
    expect([c.verifies(afterA), b.verifies(afterA), a.verifies(c.sessions.sign(claims))]).toEqual([true, true, true])
    // Sessions from before the loss still verify where the old key was known.
    expect([a.verifies(before), b.verifies(before)]).toEqual([true, true])
    expect(a.warnings).toEqual([
      "the fleet's viewer-session key in the store is not this instance's (the store lost it?): signing with the store's, still accepting this one",
    ])
    a.keeper.stop()
    expect(a.ticker.intervals).toEqual([])
  })

  test('a stored value that is no key (damaged by hand) is refused, not used', async () => {
    const store = new MemoryStore()
    await store.sharedSecret(SESSION_KEY_SECRET, 'short')
    await expect(fleetSessionKey(store, new Uint8Array(32))).rejects.toThrow(`the store's ${SESSION_KEY_SECRET} is not a 32-byte key (3 bytes)`)
  })
})
