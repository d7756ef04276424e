import { describe, expect, test } from 'bun:test'
import type { FleetEventType } from '../../src/fleet/events'
import { RelayService } from '../../src/fleet/relays'
import { silentLogger } from '../../src/log'
import { MemoryStore } from '../../src/store/memory'
import { ManualClock } from '../support/clock'

const TIMEOUT = 90_000

function relays() {
  const clock = new ManualClock(Date.UTC(2026, 11, 1, 12))
  const store = new MemoryStore()
  const events: { type: FleetEventType; data: Record<string, unknown> }[] = []
  const service = new RelayService(
    { store, clock, logger: silentLogger, events: { publish: async (type, data) => void events.push({ type, data }) } },
    { offlineAfterMs: TIMEOUT, probeIntervalMs: 5_000 },
  )
  return { clock, store, events, service, publisherEvents: () => events.filter((e) => e.type === 'publisher_state').map((e) => e.data.active) }
}

describe('relays: state per serverId, expiry, publisher state from the live ones', () => {
  test('a second relay without the publisher does not turn it off; the publishing relay going silent does', async () => {
    const { clock, service, events, publisherEvents } = relays()
    await service.register({ serverId: 'a', ipAddress: 'localhost', port: 3001 })
    await service.register({ serverId: 'b', ipAddress: '10.0.0.2', port: 3001 })
    await service.heartbeat({ serverId: 'a', publisherActive: true, connectedStages: 5 })
    await service.heartbeat({ serverId: 'b', publisherActive: false, connectedStages: [] })
    expect((await service.publisherState()).active).toBe(true)
    expect((await service.publisherState()).serverId).toBe('a')
    expect(publisherEvents()).toEqual([true])

    // Only b keeps reporting; a is silent past the timeout.
    clock.advance(TIMEOUT - 1_000)
    await service.heartbeat({ serverId: 'b', publisherActive: false, connectedStages: 0 })
    expect(await service.expireSilent()).toEqual([])
    expect((await service.publisherState()).active).toBe(true)
    clock.advance(1_001)
    await service.heartbeat({ serverId: 'b', publisherActive: false, connectedStages: 0 })
    expect(await service.expireSilent()).toEqual(['a'])
    expect(await service.expireSilent()).toEqual([]) // once
    expect((await service.publisherState()).active).toBe(false)
    expect(publisherEvents()).toEqual([true, false])
    expect(events.filter((e) => e.type === 'media_server_offline').map((e) => e.data.serverId)).toEqual(['a'])

    const listed = await service.list()
    expect(listed.map((r) => [r.serverId, r.state, r.connectedStages])).toEqual([
      ['a', 'offline', 5],
      ['b', 'online', 0],
    ])
    expect(listed.find((r) => r.serverId === 'a')!.ageMs).toBe(TIMEOUT + 1)

    // a comes back with the publisher: online again, publisher active again.
    await service.heartbeat({ serverId: 'a', publisherActive: true, connectedStages: 5 })
    expect((await service.list()).find((r) => r.serverId === 'a')!.state).toBe('online')
    expect(publisherEvents()).toEqual([true, false, true])
  })

  test('a heartbeat from an unknown relay is NOT_FOUND with the register action; the count and the list are both taken', async () => {
    const { service } = relays()
    const error = await service.heartbeat({ serverId: 'ghost', publisherActive: true, connectedStages: 1 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'NOT_FOUND', details: { action: 'register' } })
    await service.register({ serverId: 'r', ipAddress: '::1', port: 1 })
    await service.heartbeat({ serverId: 'r', publisherActive: false, connectedStages: ['arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456'] })
    expect((await service.list())[0]).toMatchObject({ connectedStages: 1, stageArns: ['arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456'] })
  })
})
