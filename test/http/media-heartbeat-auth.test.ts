/**
 * Who may choose the feeding relay: a relay's heartbeat age (`publisherAgeMs`) decides which relay
 * publishes into the stages, so with MEDIA_SERVER_SECRET set, the API key alone must not move it.
 * The original media server's heartbeat (the API key alone, no age) still counts, as the oldest.
 */
import { expect, test } from 'bun:test'
import { freshServer } from '../support/serve'

const MEDIA_SECRET = 'media-secret-0123456789'
const media = { 'x-media-auth': MEDIA_SECRET }

test('with the API key alone nobody chooses the feeding relay: an age or a heartbeat for a relay that reports one is 401; an ageless heartbeat cannot outrank it', async () => {
  await using server = await freshServer({ MEDIA_SERVER_SECRET: MEDIA_SECRET })
  const beat = (json: Record<string, unknown>, headers: Record<string, string> = {}) =>
    server.api('/api/media/heartbeat', { method: 'POST', headers, json: { connectedStages: [], ...json } })
  const feedingRelay = async () => (await (await server.api('/api/media/stages?serverId=relay-a')).json()).data.feedingRelay
  for (const serverId of ['relay-a', 'relay-b', 'media-server-01']) {
    const res = await server.api('/api/media/register', { method: 'POST', headers: media, json: { serverId, ipAddress: '127.0.0.1', port: 3001 } })
    expect(res.status).toBe(200)
  }
  // The real relays: relay-a holds the broadcaster (5 s), relay-b none.
  expect((await beat({ serverId: 'relay-a', publisherActive: true, publisherAgeMs: 5_000 }, media)).status).toBe(200)
  expect((await beat({ serverId: 'relay-b', publisherActive: false, publisherAgeMs: null }, media)).status).toBe(200)
  expect(await feedingRelay()).toBe('relay-a')

  // Someone with the API key only: relay-b "has the newest publisher", relay-a "has none".
  const attacks = [
    { serverId: 'relay-b', publisherActive: true, publisherAgeMs: 0 },
    { serverId: 'relay-b', publisherActive: true },
    { serverId: 'relay-a', publisherActive: false, publisherAgeMs: null },
    { serverId: 'relay-a', publisherActive: false },
    { serverId: 'media-server-01', publisherActive: true, publisherAgeMs: 0 },
  ]
  for (const attack of attacks) {
    const res = await beat(attack)
    expect([attack, res.status]).toEqual([attack, 401])
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('x-media-auth')
    expect(await feedingRelay()).toBe('relay-a')
  }
  const relays = (await (await server.api('/api/stats/publisher')).json()).data.relays as { serverId: string; publisherActive: boolean }[]
  expect(relays.map((r) => [r.serverId, r.publisherActive])).toEqual([
    ['relay-a', true],
    ['relay-b', false],
    ['media-server-01', false],
  ])

  // The original media server's heartbeat (API key alone, no age) still counts, but as the oldest
  // publisher: it cannot take the stages from a relay that reports its age.
  expect((await beat({ serverId: 'media-server-01', publisherActive: true, connectedStages: 5 })).status).toBe(200)
  expect(await feedingRelay()).toBe('relay-a')
  expect((await beat({ serverId: 'relay-a', publisherActive: false, publisherAgeMs: null }, media)).status).toBe(200)
  expect(await feedingRelay()).toBe('media-server-01')
  // With the secret, the age is taken as before.
  expect((await beat({ serverId: 'relay-b', publisherActive: true, publisherAgeMs: 0 }, media)).status).toBe(200)
  expect(await feedingRelay()).toBe('relay-b')
})
