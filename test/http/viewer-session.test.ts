import { expect, test } from 'bun:test'
import { ManualClock, ManualTicker } from '../support/clock'
import { freshServer, type TestServer } from '../support/serve'

/** A server of its own for each test, on a clock the test advances (a fresh rate-limit window too). */
async function clockedServer() {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12))
  const server = await freshServer(
    { VIEWER_TOKEN_TTL_MIN: '1', HEARTBEAT_INTERVAL_MS: '15000', HEARTBEAT_TIMEOUT_MS: '60000', RATE_LIMIT_MAX_REQUESTS: '5' },
    { clock, ticker: new ManualTicker() },
  )
  return Object.assign(server, { clock })
}

const asViewer = (server: TestServer, path: string, session: string, json: unknown) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
    body: JSON.stringify(json),
  })

test('viewer sessions slide with heartbeats: a viewer watching past the token lifetime keeps working', async () => {
  await using server = await clockedServer()
  const token = (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'long-watcher' } })).json()).data
  let session: string = token.viewerSession
  // Three minutes of heartbeats every 15 s with a one-minute lifetime: each answer carries the next session.
  for (let i = 0; i < 12; i++) {
    server.clock.advance(15_000)
    const res = await asViewer(server, '/api/viewer/heartbeat', session, { userId: 'long-watcher', stageArn: token.stageArn })
    expect(res.status).toBe(200)
    session = (await res.json()).data.viewerSession
  }
  // The original session has long expired; the refreshed one still rejoins.
  expect((await asViewer(server, '/api/viewer/heartbeat', token.viewerSession, { userId: 'long-watcher', stageArn: token.stageArn })).status).toBe(401)
  expect((await asViewer(server, '/api/viewer/rejoin', session, { userId: 'long-watcher' })).status).toBe(200)
}, 20_000)

test('random bearer values do not escape the rate limit (they count against the client address)', async () => {
  await using server = await clockedServer()
  const statuses = []
  for (let i = 0; i < 8; i++) statuses.push((await asViewer(server, '/api/viewer/heartbeat', `v1.random-${i}.x`, { userId: 'x', stageArn: 'y' })).status)
  expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429])
})
