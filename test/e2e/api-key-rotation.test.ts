/**
 * Rotating API_SECRET_KEY without an outage, with real `serve` processes on one real redis-server:
 * 1. two instances start together on the old key (racing to create the fleet's viewer-session key:
 *    one key in the store, both use it), a viewer session issued by one verifies on the other, and so
 *    does a session signed as releases before this one did (derived from the API key);
 * 2. both restarted with API_SECRET_KEY=new, API_SECRET_KEY_PREVIOUS=old: old, new → 200, a third key
 *    401; old-key requests counted on /metrics and warned about by route, never the key; the
 *    sessions issued before still verify;
 * 3. restarted with only the new key: the old key is 401, the sessions (and their refreshed ones) verify.
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { RedisClient } from 'bun'
import { SESSION_KEY_SECRET } from '../../src/fleet/session-key'
import { Cluster, type Instance } from '../support/fleet-cluster'
import { beforeAllOrFail } from '../support/hooks'
import { type RedisServer, startRedis } from '../support/redis'

const OLD = 'the-old-api-key-0123456789'
const NEW = 'the-new-api-key-0123456789'
const THIRD = 'a-third-api-key-0123456789'
const ROTATING = { API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }

let redis: RedisServer
let cluster: Cluster | null = null

beforeAllOrFail(async () => {
  redis = await startRedis()
})
afterEach(async () => {
  await cluster?.killAll()
  cluster = null
})
afterAll(async () => {
  await redis?.stop()
})

interface Seat {
  userId: string
  stageArn: string
  participantId: string
  viewerSession: string
}

async function data<T>(response: Promise<Response>, what: string): Promise<T> {
  const res = await response
  const body = (await res.json()) as { data?: T; error?: unknown }
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(body.error)}`)
  return body.data!
}

const withKey = (i: Instance, key: string, path: string, json?: unknown) =>
  i.api(path, { method: json === undefined ? 'GET' : 'POST', headers: { 'x-api-key': key }, json })

/** A viewer's heartbeat with its session as the bearer: the status, and the refreshed session on 200. */
async function heartbeat(i: Instance, seat: Seat, session = seat.viewerSession): Promise<[number, string | null]> {
  const res = await i.api('/api/viewer/heartbeat', {
    method: 'POST',
    headers: { authorization: `Bearer ${session}` },
    json: { userId: seat.userId, stageArn: seat.stageArn },
  })
  const body = (await res.json()) as { data?: { viewerSession: string } }
  return [res.status, body.data?.viewerSession ?? null]
}

/** The session the release before this one would have signed for `seat`: HMAC keyed with a key derived from the API key (`v1.`). */
function preUpgradeSession(apiKey: string, seat: Seat): string {
  const key = createHmac('sha256', apiKey).update('ivs-fanout viewer session v1').digest()
  const exp = Math.floor(Date.now() / 1000) + 3600
  const payload = Buffer.from(JSON.stringify([seat.userId, seat.participantId, seat.stageArn, exp])).toString('base64url')
  return `v1.${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`
}

const previousUses = async (i: Instance) => {
  const text = await (await withKey(i, NEW, '/metrics')).text()
  const line = text.split('\n').find((l) => l.startsWith('ivs_fanout_api_key_previous_used_total '))
  return line === undefined ? null : Number(line.split(' ')[1])
}

describe('API key rotation on a shared redis-server, serve as processes', () => {
  test('old → old+new → new: no viewer session ends, both keys work during the grace period, the old one stops after it', async () => {
    // The native store keeps every key of a fleet in one cluster slot: its prefix is a hash tag.
    const prefix = `{rot${Date.now().toString(36)}:}`
    const fleet = new Cluster(
      {
        REDIS_HOST: '127.0.0.1',
        REDIS_PORT: String(redis.port),
        REDIS_KEY_PREFIX: prefix,
        RATE_LIMIT_MAX_REQUESTS: '1000000',
        SHUTDOWN_GRACE_MS: '100',
        LOG_LEVEL: 'info',
      },
      NEW,
    )
    cluster = fleet

    // 1. Before: the old key, two instances racing for the fleet's session key.
    const [a, b] = await Promise.all([fleet.start('a', { API_SECRET_KEY: OLD }, 15_000), fleet.start('b', { API_SECRET_KEY: OLD }, 15_000)])
    const probe = new RedisClient(redis.url)
    const stored = (await probe.send('GET', [`${prefix}secret:${SESSION_KEY_SECRET}`])) as string | null
    probe.close()
    expect(Buffer.from(stored ?? '', 'base64url').length).toBe(32)
    const seat = async (via: Instance, userId: string) => ({
      userId,
      ...(await data<Omit<Seat, 'userId'>>(withKey(via, OLD, '/api/token/viewer', { userId }), `seat ${userId}`)),
    })
    const alice = await seat(a, 'alice')
    expect(alice.viewerSession).toStartWith('v2.')
    expect((await heartbeat(b, alice))[0]).toBe(200)
    // Bob's app holds a session from before the upgrade.
    const bob = { ...(await seat(b, 'bob')) }
    bob.viewerSession = preUpgradeSession(OLD, bob)
    expect((await heartbeat(a, bob))[0]).toBe(200)

    // 2. The rotation: every instance restarted with the new key and the old one as previous.
    await fleet.killAll()
    const [a2, b2] = await Promise.all([fleet.start('a2', ROTATING, 15_000), fleet.start('b2', ROTATING, 15_000)])
    for (const i of [a2, b2]) {
      expect([i.name, (await heartbeat(i, alice))[0]]).toEqual([i.name, 200])
      expect([i.name, (await withKey(i, NEW, '/api/stats')).status, (await withKey(i, OLD, '/api/stats')).status]).toEqual([i.name, 200, 200])
      const third = await withKey(i, THIRD, '/api/stats')
      expect([i.name, third.status, ((await third.json()) as { error: { code: string } }).error.code]).toEqual([i.name, 401, 'UNAUTHORIZED'])
    }
    // Bob's pre-upgrade session verifies (through API_SECRET_KEY_PREVIOUS) and is refreshed under the fleet's key.
    const [bobStatus, bobRefreshed] = await heartbeat(a2, bob)
    expect([bobStatus, bobRefreshed?.slice(0, 3)]).toEqual([200, 'v2.'])
    // The old key is counted (one /api/stats each) and named by route in a warning, never the key.
    expect([await previousUses(a2), await previousUses(b2)]).toEqual([1, 1])
    const warning = await a2.waitForLog((l) => l.msg.startsWith('a request was authenticated with API_SECRET_KEY_PREVIOUS'))
    expect([warning.level, warning.route]).toEqual(['warn', 'GET /api/stats'])
    for (const i of [a2, b2]) expect(i.process.stdout().includes(OLD) || i.process.stdout().includes(NEW)).toBe(false)

    // 3. The grace period over: only the new key.
    await fleet.killAll()
    const a3 = await fleet.start('a3', { API_SECRET_KEY: NEW }, 15_000)
    expect([(await heartbeat(a3, alice))[0], (await heartbeat(a3, bob, bobRefreshed!))[0]]).toEqual([200, 200])
    expect([(await withKey(a3, OLD, '/api/stats')).status, (await withKey(a3, NEW, '/api/stats')).status]).toEqual([401, 200])
    expect(await previousUses(a3)).toBeNull()
  }, 90_000)
})
