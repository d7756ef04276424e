/**
 * What relays report of their media (ingest loss, repairs, keyframe interval, stage sessions by
 * state): taken from their heartbeats, kept with the relay, and returned by GET /api/stats/publisher
 * for the dashboard. Additive: the original media server's heartbeat (none of it) stays valid.
 */
import { expect, test } from 'bun:test'
import { readBeat } from '../../src/store/lua-rows'
import { freshServer } from '../support/serve'

const MEDIA_SECRET = 'media-secret-0123456789'
const media = { 'x-media-auth': MEDIA_SECRET }
const INGEST = { videoPackets: 9_800, missing: 40, repaired: 38, unrepaired: 2, lossRatio: 0.0041, keyframeIntervalMs: 2000 }
const SESSIONS = { connecting: 1, live: 2, backoff: 0, noMedia: 0 }

test("a relay's ingest and stage sessions reach /api/stats/publisher; the original media server's heartbeat stays valid and reports none", async () => {
  await using server = await freshServer({ MEDIA_SERVER_SECRET: MEDIA_SECRET })
  const beat = (json: Record<string, unknown>, headers: Record<string, string> = media) =>
    server.api('/api/media/heartbeat', { method: 'POST', headers, json: { connectedStages: [], ...json } })
  const relays = async () =>
    Object.fromEntries(
      ((await (await server.api('/api/stats/publisher')).json()).data.relays as { serverId: string; ingest: unknown; stageSessions: unknown }[]).map((r) => [
        r.serverId,
        { ingest: r.ingest, stageSessions: r.stageSessions },
      ]),
    )
  for (const serverId of ['relay-a', 'media-server-01']) {
    expect((await server.api('/api/media/register', { method: 'POST', headers: media, json: { serverId, ipAddress: '127.0.0.1', port: 3001 } })).status).toBe(
      200,
    )
  }
  // Registered, no heartbeat yet: nothing reported.
  expect(await relays()).toEqual({ 'relay-a': { ingest: null, stageSessions: null }, 'media-server-01': { ingest: null, stageSessions: null } })

  expect((await beat({ serverId: 'relay-a', publisherActive: true, publisherAgeMs: 1_000, ingest: INGEST, stageSessions: SESSIONS })).status).toBe(200)
  // The original media server's body, exactly: the API key alone, a count, nothing else.
  expect((await beat({ serverId: 'media-server-01', publisherActive: false, connectedStages: 5 }, {})).status).toBe(200)
  expect(await relays()).toEqual({ 'relay-a': { ingest: INGEST, stageSessions: SESSIONS }, 'media-server-01': { ingest: null, stageSessions: null } })

  // Each heartbeat replaces the report: the publisher gone, no ingest.
  expect(
    (await beat({ serverId: 'relay-a', publisherActive: false, publisherAgeMs: null, ingest: null, stageSessions: { ...SESSIONS, live: 0 } })).status,
  ).toBe(200)
  expect((await relays())['relay-a']).toEqual({ ingest: null, stageSessions: { ...SESSIONS, live: 0 } })
  // A heartbeat that says nothing of its media: nothing kept from the one before.
  expect((await beat({ serverId: 'relay-a', publisherActive: false, publisherAgeMs: null })).status).toBe(200)
  expect((await relays())['relay-a']).toEqual({ ingest: null, stageSessions: null })

  // Malformed reports are 400 and change nothing.
  for (const bad of [
    { ingest: { ...INGEST, lossRatio: 1.5 } },
    { ingest: { ...INGEST, missing: -1 } },
    { ingest: { ...INGEST, extra: 1 } },
    { ingest: { videoPackets: 1 } },
    { stageSessions: { ...SESSIONS, stopped: 1 } },
    { stageSessions: 3 },
  ]) {
    const res = await beat({ serverId: 'relay-a', publisherActive: false, publisherAgeMs: null, ...bad })
    expect([bad, res.status]).toEqual([bad, 400])
  }
  expect((await relays())['relay-a']).toEqual({ ingest: null, stageSessions: null })
})

test('the shared stores keep the report as written (Redis and Upstash read beats through readBeat)', () => {
  const beat = { publisherActive: true, connectedStages: 1, stageArns: ['arn:a'], lastHeartbeatAt: 5, offlineSince: null }
  expect(readBeat(JSON.stringify({ ...beat, ingest: INGEST, stageSessions: SESSIONS }))).toEqual({ ...beat, ingest: INGEST, stageSessions: SESSIONS })
  expect(readBeat(JSON.stringify({ ...beat, ingest: null }))).toEqual({ ...beat, ingest: null })
  // Beats written before these fields existed, or by the original media server: none.
  expect(readBeat(JSON.stringify(beat))).toEqual(beat)
})
