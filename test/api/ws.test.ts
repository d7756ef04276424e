import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { startTestServer, type TestServer } from '../support/serve'

let server: TestServer
beforeAll(async () => {
  server = await startTestServer({ STAGE_CAPACITY: '2', SCALE_UP_THRESHOLD: '2', SCALE_DOWN_THRESHOLD: '1' })
})
afterAll(() => server.stop())

interface Message { type: string; data: Record<string, any> }

/** A real WebSocket client that records every message. */
async function connect(query: string, headers?: Record<string, string>) {
  const messages: Message[] = []
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?${query}`, { headers } as never)
  ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)))
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve()
    ws.onerror = () => reject(new Error('socket refused'))
  })
  const waitFor = async (type: string, match: (m: Message) => boolean = () => true, timeoutMs = 3000) => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = messages.find((m) => m.type === type && match(m))
      if (found) return found
      if (Date.now() > deadline) throw new Error(`no ${type} within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.type))}`)
      await Bun.sleep(20)
    }
  }
  return { ws, messages, waitFor }
}

/** A WebSocket upgrade request by hand, to read the refusal's status and envelope. */
const upgrade = (query: string) =>
  fetch(`${server.url}/ws?${query}`, {
    headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
  })

describe('/ws', () => {
  test('refused without the API key, or with a bad type', async () => {
    const noKey = await upgrade('type=dashboard')
    expect(noKey.status).toBe(401)
    expect((await noKey.json()).error.code).toBe('UNAUTHORIZED')
    const badType = await upgrade(`type=robot&apiKey=${server.apiKey}`)
    expect(badType.status).toBe(400)
    const viewerWithoutUser = await upgrade(`type=viewer&apiKey=${server.apiKey}`)
    expect(viewerWithoutUser.status).toBe(400)
    await expect(connect('type=dashboard&apiKey=wrong')).rejects.toThrow()
  })

  test('dashboard: stats on connect, then stats_update only when something changed', async () => {
    const dash = await connect(`type=dashboard&apiKey=${server.apiKey}`)
    const first = await dash.waitFor('stats_update')
    expect(first.data.totalViewers).toBe(0)
    await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'd1' } })
    const update = await dash.waitFor('stats_update', (m) => m.data.totalViewers === 1)
    expect(update.data.stages.length).toBeGreaterThanOrEqual(1)
    const count = dash.messages.length
    await Bun.sleep(2_200) // two stats periods with nothing changing
    expect(dash.messages.length).toBe(count)
    dash.ws.close()
  })

  test('media server (API key in a header): stage_created, stage_deleted and publisher_state', async () => {
    const relay = await connect('type=media-server', { 'x-api-key': server.apiKey })
    const created = (await (await server.api('/api/stage', { method: 'POST', json: {} })).json()).data
    const event = await relay.waitFor('stage_created', (m) => m.data.stageArn === created.stageArn)
    expect(Date.parse(event.data.timestamp)).not.toBeNaN()
    await server.api(`/api/stage/${encodeURIComponent(created.stageArn)}`, { method: 'DELETE' })
    await relay.waitFor('stage_deleted', (m) => m.data.stageArn === created.stageArn)
    await server.api('/api/media/register', { method: 'POST', json: { serverId: 'relay-1', ipAddress: '127.0.0.1', port: 3001 } })
    await server.api('/api/media/heartbeat', { method: 'POST', json: { serverId: 'relay-1', publisherActive: true, connectedStages: [] } })
    expect((await relay.waitFor('publisher_state')).data.active).toBe(true)
    // Events arrive in the order they happened, once each.
    const types = relay.messages.map((m) => m.type)
    expect(types.indexOf('stage_created')).toBeLessThan(types.indexOf('stage_deleted'))
    expect(types.filter((t) => t === 'stage_created').length).toBe(1)
    relay.ws.close()
  })

  test('viewer (viewerSession): rejoin_required reaches the viewers of a draining stage only', async () => {
    const users = ['w1', 'w2', 'w3']
    const tokens: { stageArn: string; viewerSession: string }[] = []
    for (const u of users) tokens.push((await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: u } })).json()).data)
    // Capacity 2: w3 sits on a later stage than w1.
    const target = tokens[2]!
    expect(target.stageArn).not.toBe(tokens[0]!.stageArn)
    const mine = await connect(`type=viewer&userId=w3&viewerSession=${encodeURIComponent(target.viewerSession)}`)
    const other = await connect('type=viewer&userId=w1', { authorization: `Bearer ${tokens[0]!.viewerSession}` })
    await server.fleet.drainStage(target.stageArn)
    const message = await mine.waitFor('rejoin_required')
    expect(message.data.stageArn).toBe(target.stageArn)
    await Bun.sleep(300)
    expect(other.messages.filter((m) => m.type === 'rejoin_required')).toEqual([])
    // Another user's session cannot listen as this viewer.
    await expect(connect(`type=viewer&userId=someone-else&viewerSession=${encodeURIComponent(target.viewerSession)}`)).rejects.toThrow()
    mine.ws.close()
    other.ws.close()
  })
})
