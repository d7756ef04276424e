/**
 * Rotating the API key with serve as it runs (real HTTP, in this process): with API_SECRET_KEY=new and
 * API_SECRET_KEY_PREVIOUS=old both keys open the API, a third one is refused and charged to the
 * guess budget, each old-key request is counted on /metrics and warned about (never the key); after a
 * restart with only the new key, the old one is refused. Viewer sessions are signed with the store's
 * key, so one issued before the change still verifies after each restart on the same store.
 */
import { describe, expect, test } from 'bun:test'
import { createLogger } from '../../src/log'
import { MemoryStore } from '../../src/store/memory'
import { freshServer, type TestServer } from '../support/serve'

const NEW = 'the-new-api-key-0123456789'
const OLD = 'the-old-api-key-0123456789'
const THIRD = 'a-third-api-key-0123456789'

const withKey = (server: TestServer, key: string, path: string, init: RequestInit & { json?: unknown } = {}) =>
  server.api(path, { ...init, headers: { 'x-api-key': key } })

/** ivs_fanout_api_key_previous_used_total on /metrics (read with the new key), or null when it is not exported. */
async function previousUses(server: TestServer): Promise<number | null> {
  const text = await (await withKey(server, NEW, '/metrics')).text()
  const line = text.split('\n').find((l) => l.startsWith('ivs_fanout_api_key_previous_used_total'))
  return line === undefined ? null : Number(line.split(' ').pop())
}

function capturedLogs() {
  const lines: string[] = []
  return { lines, logger: createLogger('info', {}, (line) => lines.push(line)) }
}

describe('serve with API_SECRET_KEY=new and API_SECRET_KEY_PREVIOUS=old', () => {
  test('both keys open the API (headers, /ws query, /metrics); each old-key request is counted and warned about by route, never naming a key', async () => {
    const { lines, logger } = capturedLogs()
    await using server = await freshServer({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }, { logger })
    expect(await previousUses(server)).toBe(0)
    expect((await withKey(server, NEW, '/api/stats')).status).toBe(200)
    expect((await withKey(server, OLD, '/api/stats')).status).toBe(200)
    expect((await withKey(server, OLD, '/api/token/viewer', { method: 'POST', json: { userId: 'viewer-1' } })).status).toBe(200)
    expect((await withKey(server, OLD, '/metrics')).status).toBe(200)
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/ws?type=dashboard&apiKey=${OLD}`)
    await new Promise((resolve, reject) => {
      socket.onopen = resolve
      socket.onclose = () => reject(new Error('the dashboard socket with the old key was refused'))
    })
    socket.close()
    expect(await previousUses(server)).toBe(4)

    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.msg.startsWith('a request was authenticated with API_SECRET_KEY_PREVIOUS'))
    expect(warnings.map((w) => [w.level, w.route]).sort()).toEqual([
      ['warn', 'GET /api/stats'],
      ['warn', 'GET /metrics'],
      ['warn', 'GET /ws'],
      ['warn', 'POST /api/token/viewer'],
    ])
    for (const line of lines) expect([line.includes(OLD), line.includes(NEW)]).toEqual([false, false])
  })

  test('the warning is once a minute per route template, not per address: many ARNs on one route, and unknown paths, warn once each', async () => {
    const { lines, logger } = capturedLogs()
    await using server = await freshServer({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }, { logger })
    const arns = ['one', 'two', 'three'].map((id) => encodeURIComponent(`arn:aws:ivs:eu-west-1:123456789012:stage/${id}`))
    for (const arn of arns) {
      // Unknown stages (404) and empty lists alike: the key passed, so each is a use of the old one.
      await withKey(server, OLD, `/api/stage/${arn}`)
      await withKey(server, OLD, `/api/viewer/list/${arn}`)
      await withKey(server, OLD, `/api/stage/${arn}`, { method: 'DELETE' })
    }
    for (const path of ['/api/no-such-route', '/api/no-such-route-either', '/api/stage/a/b']) expect((await withKey(server, OLD, path)).status).toBe(404)
    expect(await previousUses(server)).toBe(arns.length * 3 + 3)

    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.msg.startsWith('a request was authenticated with API_SECRET_KEY_PREVIOUS'))
    expect(warnings.map((w) => [w.route, w.sinceLastWarning]).sort()).toEqual([
      ['DELETE /api/stage/:stageArn', 1],
      ['GET /api/stage/:stageArn', 1],
      ['GET /api/viewer/list/:stageArn', 1],
      ['GET unmatched', 1],
    ])
  })

  test('a third key is 401 and charged to the guess budget once a request; old-key requests charge nothing', async () => {
    await using server = await freshServer({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD, AUTH_FAILURE_LIMIT: '3' })
    // Many times the budget with the old key: none of them is a failure.
    for (let i = 0; i < 10; i++) expect((await withKey(server, OLD, '/api/stats')).status).toBe(200)
    expect(await previousUses(server)).toBe(10)
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await withKey(server, THIRD, '/api/stats')).status)
    // The third failure used the budget up: the address is locked out, even with the right key.
    statuses.push((await withKey(server, NEW, '/api/stats')).status)
    expect(statuses).toEqual([401, 401, 401, 429])
    const wrong = await (await withKey(server, THIRD, '/api/stats')).json()
    expect(wrong.error.details).toMatchObject({ reason: 'authentication-failures' })
  })
})

describe('after the rotation: serve restarted on the same store', () => {
  test('with only the new key the old one is 401 and the metric is gone; a viewer session issued under the old key verifies throughout', async () => {
    const store = new MemoryStore()
    const heartbeat = (server: TestServer, session: string, stageArn: string) =>
      fetch(`${server.url}/api/viewer/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'viewer-1', stageArn }),
      })

    let session: string
    let stageArn: string
    {
      await using before = await freshServer({ API_SECRET_KEY: OLD }, { store })
      const issued = (await (await withKey(before, OLD, '/api/token/viewer', { method: 'POST', json: { userId: 'viewer-1' } })).json()).data
      ;({ viewerSession: session, stageArn } = issued)
      expect((await heartbeat(before, session, stageArn)).status).toBe(200)
    }
    {
      await using during = await freshServer({ API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }, { store })
      expect((await heartbeat(during, session, stageArn)).status).toBe(200)
    }
    await using after = await freshServer({ API_SECRET_KEY: NEW }, { store })
    expect((await heartbeat(after, session, stageArn)).status).toBe(200)
    const old = await withKey(after, OLD, '/api/stats')
    expect([old.status, (await old.json()).error.code]).toEqual([401, 'UNAUTHORIZED'])
    expect((await withKey(after, NEW, '/api/stats')).status).toBe(200)
    expect(await previousUses(after)).toBeNull()
  })
})
