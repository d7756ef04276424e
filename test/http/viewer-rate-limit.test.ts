/**
 * A viewer app's requests count in one bucket per viewer, keyed by what it cannot change (the userId
 * its session was signed for), and rejoin, which mints a token each time, has its own small budget
 * per userId. Real server, real sockets.
 */
import { expect, test } from 'bun:test'
import { REJOIN_LIMIT } from '../../src/http/rate-limit'
import { freshServer, type TestServer } from '../support/serve'

const asViewer = (server: TestServer, path: string, session: string, json: unknown) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
    body: JSON.stringify(json),
  })

async function viewerToken(server: TestServer, userId: string) {
  const res = await server.api('/api/token/viewer', { method: 'POST', json: { userId } })
  expect(res.status).toBe(200)
  return (await res.json()).data as { viewerSession: string; stageArn: string; participantId: string }
}

test('chaining rejoins (each with the session the last one returned) mints no more than the rejoin budget', async () => {
  await using server = await freshServer({ RATE_LIMIT_MAX_REQUESTS: '100' })
  let session = (await viewerToken(server, 'chain')).viewerSession
  const statuses: number[] = []
  const participants = new Set<string>()
  let refused: Response | null = null
  const started = performance.now()
  for (let i = 0; i < 300; i++) {
    const res = await asViewer(server, '/api/viewer/rejoin', session, { userId: 'chain' })
    statuses.push(res.status)
    if (res.status === 200) {
      const data = (await res.json()).data
      participants.add(data.participantId)
      session = data.viewerSession
    } else if (refused === null) refused = res
    else await res.body?.cancel()
  }
  const ms = Math.round(performance.now() - started)
  const minted = statuses.filter((s) => s === 200).length
  console.log(`${minted} of 300 chained rejoins minted a token in ${ms} ms (rejoin budget ${REJOIN_LIMIT.max} a minute)`)
  expect(minted).toBe(REJOIN_LIMIT.max)
  expect(statuses.slice(REJOIN_LIMIT.max).every((s) => s === 429)).toBe(true)
  expect(participants.size).toBeGreaterThan(1) // each rejoin is a new participant, so a new session
  expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0)
  const error = (await refused!.json()).error
  expect(error.code).toBe('RATE_LIMITED')
  expect(error.details.reason).toBe('rejoins')
  expect(error.message).toContain(`at most ${REJOIN_LIMIT.max} times a minute`)
  // Another viewer is not affected.
  const other = await viewerToken(server, 'bystander')
  expect((await asViewer(server, '/api/viewer/rejoin', other.viewerSession, { userId: 'bystander' })).status).toBe(200)
})

test('every session of one viewer counts in one bucket, keyed by its userId, whichever participant it names', async () => {
  await using server = await freshServer({ RATE_LIMIT_MAX_REQUESTS: '12' })
  const first = await viewerToken(server, 'many-sessions')
  const sessions = [first.viewerSession]
  // Four rejoins (four requests in the viewer's bucket), each returning a session for a new participant.
  for (let i = 0; i < 4; i++) {
    const res = await asViewer(server, '/api/viewer/rejoin', sessions.at(-1)!, { userId: 'many-sessions' })
    expect(res.status).toBe(200)
    sessions.push((await res.json()).data.viewerSession)
  }
  // Heartbeats round-robin over the five sessions: 12 - 4 = 8 more fit in the window, whichever session is used.
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    const res = await asViewer(server, '/api/viewer/heartbeat', sessions[i % sessions.length]!, { userId: 'many-sessions', stageArn: first.stageArn })
    statuses.push(res.status)
    await res.body?.cancel()
  }
  expect(statuses.filter((s) => s === 200).length).toBe(8)
  expect(statuses.slice(8).every((s) => s === 429)).toBe(true)
  // The app backend (API key, its own bucket) is not affected.
  expect((await server.api('/api/stats')).status).toBe(200)
})

test('the rejoin budget holds for the app backend too (per userId, whoever asks); other users keep theirs', async () => {
  await using server = await freshServer()
  await viewerToken(server, 'backend-user')
  const statuses: number[] = []
  for (let i = 0; i < REJOIN_LIMIT.max + 3; i++) {
    const res = await server.api('/api/viewer/rejoin', { method: 'POST', json: { userId: 'backend-user' } })
    statuses.push(res.status)
    await res.body?.cancel()
  }
  expect(statuses).toEqual([...Array(REJOIN_LIMIT.max).fill(200), 429, 429, 429])
  await viewerToken(server, 'other-user')
  expect((await server.api('/api/viewer/rejoin', { method: 'POST', json: { userId: 'other-user' } })).status).toBe(200)
})

test('a refused session does not spend the budget of the user it names', async () => {
  await using server = await freshServer()
  const victim = await viewerToken(server, 'victim')
  const attacker = await viewerToken(server, 'attacker')
  for (let i = 0; i < REJOIN_LIMIT.max + 2; i++) {
    const res = await asViewer(server, '/api/viewer/rejoin', attacker.viewerSession, { userId: 'victim' })
    expect(res.status).toBe(403)
    await res.body?.cancel()
  }
  expect((await asViewer(server, '/api/viewer/rejoin', victim.viewerSession, { userId: 'victim' })).status).toBe(200)
})
