import { describe, expect, test } from 'bun:test'
import type { FleetStats } from '../../src/fleet/stats'
import { type ClientType, type HubClient, SESSION_EXPIRED, SocketHub } from '../../src/http/ws/hub'
import type { StoredEvent } from '../../src/store/types'
import { eventually } from '../support/eventually'

/** A socket as the hub sees it: what it was sent (parsed) and how it was closed. */
function client(type: ClientType, userId: string | null = null) {
  const c: HubClient & { frames: { type: string; data: Record<string, unknown> }[]; closed: { code: number; reason: string } | null; closedAt: number } = {
    type,
    userId,
    frames: [],
    closed: null,
    closedAt: 0,
    send(text: string) {
      c.frames.push(JSON.parse(text))
    },
    close(code: number, reason: string) {
      c.closed = { code, reason }
      c.closedAt = performance.now()
    },
  }
  return c
}

let seq = 0
const event = (type: string, data: Record<string, unknown>): StoredEvent => ({ id: String(++seq), type, data })

const stats = (totalViewers: number): FleetStats => ({
  totalViewers,
  activeStages: 1,
  drainingStages: 0,
  publisherActive: false,
  capacityExhausted: false,
  capacityReason: null,
  fanoutMode: 'relay',
  activeReplications: 0,
  stages: [],
  seats: { used: totalViewers, open: 50, ceiling: 1000, maxStages: 20, stageCapacity: 50, subscriptionQuota: 10_000 },
})

function hubWithEveryone() {
  const hub = new SocketHub()
  const dashboard = client('dashboard')
  const media = client('media-server')
  const alice = client('viewer', 'alice')
  const bob = client('viewer', 'bob')
  for (const c of [dashboard, media, alice, bob]) hub.add(c)
  return { hub, dashboard, media, alice, bob }
}

describe('SocketHub: who gets which event', () => {
  test('stage and publisher events go to dashboards and media servers as {type, data}, never to viewers', () => {
    const { hub, dashboard, media, alice, bob } = hubWithEveryone()
    const arn = 'arn:aws:ivs:us-east-1:000000000000:stage/AbCdEf123456'
    hub.deliver(event('stage_created', { stageArn: arn, timestamp: '2026-12-01T00:00:00.000Z' }))
    hub.deliver(event('stage_deleted', { stageArn: arn, timestamp: '2026-12-01T00:00:01.000Z' }))
    hub.deliver(event('publisher_state', { active: true }))
    hub.deliver(event('media_server_offline', { serverId: 'relay-1' }))
    const expected = [
      { type: 'stage_created', data: { stageArn: arn, timestamp: '2026-12-01T00:00:00.000Z' } },
      { type: 'stage_deleted', data: { stageArn: arn, timestamp: '2026-12-01T00:00:01.000Z' } },
      { type: 'publisher_state', data: { active: true } },
      { type: 'media_server_offline', data: { serverId: 'relay-1' } },
    ]
    expect(dashboard.frames).toEqual(expected)
    expect(media.frames).toEqual(expected)
    expect(alice.frames).toEqual([])
    expect(bob.frames).toEqual([])
  })

  test('rejoin_required reaches only the viewers it names, without the list of the others', () => {
    const { hub, dashboard, media, alice, bob } = hubWithEveryone()
    const carol = client('viewer', 'carol')
    hub.add(carol)
    hub.deliver(event('rejoin_required', { stageArn: 'arn-s2', userIds: ['alice', 'carol', 'somebody-elsewhere'], timestamp: 't1' }))
    expect(alice.frames).toEqual([{ type: 'rejoin_required', data: { stageArn: 'arn-s2', timestamp: 't1' } }])
    expect(carol.frames).toEqual([{ type: 'rejoin_required', data: { stageArn: 'arn-s2', timestamp: 't1' } }])
    expect(bob.frames).toEqual([])
    expect(dashboard.frames).toEqual([])
    expect(media.frames).toEqual([])
    // No list at all: nobody.
    hub.deliver(event('rejoin_required', { stageArn: 'arn-s3', timestamp: 't2' }))
    expect(alice.frames).toHaveLength(1)
  })

  test('replication_started / replication_stopped go to dashboards; relay_stages (hybrid origins) to media servers', () => {
    const { hub, dashboard, media, alice } = hubWithEveryone()
    const data = { sourceStageArn: 'arn-m', destinationStageArn: 'arn-s1', participantId: 'p-1', timestamp: 't' }
    hub.deliver(event('replication_started', data))
    hub.deliver(event('replication_stopped', { ...data, reason: 'superseded' }))
    hub.deliver(event('relay_stages', { stageArns: ['arn-m'], timestamp: 't' }))
    expect(dashboard.frames).toEqual([
      { type: 'replication_started', data },
      { type: 'replication_stopped', data: { ...data, reason: 'superseded' } },
    ])
    expect(media.frames).toEqual([{ type: 'relay_stages', data: { stageArns: ['arn-m'], timestamp: 't' } }])
    expect(alice.frames).toEqual([])
  })

  test('events the hub has no audience for reach nobody; a removed socket gets nothing more', () => {
    const { hub, dashboard, media, alice } = hubWithEveryone()
    hub.deliver(event('something_internal', { secret: 'x' }))
    expect([dashboard.frames, media.frames, alice.frames]).toEqual([[], [], []])
    hub.remove(dashboard)
    hub.deliver(event('publisher_state', { active: false }))
    expect(dashboard.frames).toEqual([])
    expect(media.frames.map((f) => f.type)).toEqual(['publisher_state'])
  })

  test('count by type, and in all', () => {
    const { hub, dashboard } = hubWithEveryone()
    expect([hub.count(), hub.count('viewer'), hub.count('dashboard'), hub.count('media-server')]).toEqual([4, 2, 1, 1])
    hub.remove(dashboard)
    hub.remove(dashboard) // twice is harmless
    expect([hub.count(), hub.count('dashboard')]).toEqual([3, 0])
  })
})

describe('SocketHub: stats_update', () => {
  test('to dashboards and media servers, only when the figures changed since the last one sent', () => {
    const { hub, dashboard, media, alice } = hubWithEveryone()
    expect(hub.publishStats(stats(1))).toBe(true)
    expect(hub.publishStats(stats(1))).toBe(false)
    expect(hub.publishStats(stats(2))).toBe(true)
    expect(hub.publishStats(stats(1))).toBe(true) // changed back is a change
    const sent = (c: ReturnType<typeof client>) => c.frames.map((f) => [f.type, f.data.totalViewers])
    expect(sent(dashboard)).toEqual([
      ['stats_update', 1],
      ['stats_update', 2],
      ['stats_update', 1],
    ])
    expect(sent(media)).toEqual(sent(dashboard))
    expect(alice.frames).toEqual([])
  })

  test('sendStats answers one socket (a dashboard that just opened) whatever was sent before', () => {
    const { hub, dashboard, media } = hubWithEveryone()
    hub.publishStats(stats(3))
    const late = client('dashboard')
    hub.add(late)
    hub.sendStats(late, stats(3))
    expect(late.frames).toEqual([{ type: 'stats_update', data: { ...stats(3) } }])
    expect([dashboard.frames.length, media.frames.length]).toEqual([1, 1])
  })

  test('hasStatsAudience: viewers alone are no audience', () => {
    const hub = new SocketHub()
    expect(hub.hasStatsAudience()).toBe(false)
    hub.add(client('viewer', 'v'))
    expect(hub.hasStatsAudience()).toBe(false)
    const media = client('media-server')
    hub.add(media)
    expect(hub.hasStatsAudience()).toBe(true)
    hub.remove(media)
    expect(hub.hasStatsAudience()).toBe(false)
  })
})

describe('SocketHub: sockets closed when their viewer session expires', () => {
  test('closed with 4401 at the expiry, not before; a socket without an expiry stays', async () => {
    const hub = new SocketHub()
    const expiring = client('viewer', 'e1')
    const byKey = client('viewer', 'e2')
    const addedAt = performance.now()
    hub.add(expiring, 150)
    hub.add(byKey)
    expect(hub.pendingExpiries).toBe(1)
    await eventually('the expired socket is closed', () => expiring.closed !== null, 2_000, 5)
    expect(expiring.closedAt - addedAt).toBeGreaterThanOrEqual(145)
    expect(expiring.closed).toEqual({ code: SESSION_EXPIRED, reason: 'session expired' })
    expect(SESSION_EXPIRED).toBe(4401)
    expect(hub.pendingExpiries).toBe(0)
    expect(byKey.closed).toBeNull()
  })

  test('an expiry already past closes at once; removing the socket first cancels its timer', async () => {
    const hub = new SocketHub()
    const past = client('viewer', 'p')
    const leaving = client('viewer', 'l')
    hub.add(past, -5_000)
    hub.add(leaving, 40)
    hub.remove(leaving)
    expect(hub.pendingExpiries).toBe(1)
    await eventually('the past-expiry socket is closed', () => past.closed !== null, 1_000, 5)
    await Bun.sleep(80)
    expect(leaving.closed).toBeNull()
    expect(hub.pendingExpiries).toBe(0)
  })

  test("an expiry beyond setTimeout's range waits instead of firing at once", async () => {
    const hub = new SocketHub()
    const longLived = client('viewer', 'l')
    hub.add(longLived, 2 ** 33)
    await Bun.sleep(30)
    expect(longLived.closed).toBeNull()
    expect(hub.pendingExpiries).toBe(1)
    hub.closeAll(1001, 'bye')
  })

  test('closeAll closes every socket with the code, forgets them and their timers', async () => {
    const { hub, dashboard, media, alice, bob } = hubWithEveryone()
    const expiring = client('viewer', 'x')
    hub.add(expiring, 60)
    hub.closeAll(1001, 'server stopping')
    for (const c of [dashboard, media, alice, bob, expiring]) expect(c.closed).toEqual({ code: 1001, reason: 'server stopping' })
    expect([hub.count(), hub.pendingExpiries]).toEqual([0, 0])
    await Bun.sleep(100)
    expect(expiring.closed).toEqual({ code: 1001, reason: 'server stopping' }) // not closed again with 4401
    hub.deliver(event('publisher_state', { active: true }))
    expect(dashboard.frames).toEqual([])
  })
})
