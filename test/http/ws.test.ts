import { describe, expect, test } from 'bun:test'
import type { Clock } from '../../src/clock'
import { ManualTicker } from '../support/clock'
import { eventually } from '../support/eventually'
import { freshServer, type TestServer } from '../support/serve'

interface Message {
  type: string
  data: Record<string, any>
}

/** A server of its own for each test, its periodic work (event feed, stats) fired by hand. */
async function hubServer() {
  const ticker = new ManualTicker()
  return Object.assign(await freshServer({ STAGE_CAPACITY: '2', SCALE_UP_THRESHOLD: '2', SCALE_DOWN_THRESHOLD: '1' }, { ticker }), { ticker })
}

/**
 * A real WebSocket client. `next` resolves with the first matching message (already received or
 * still to come); `settled` sends a ping and waits for its pong: frames on one socket arrive in
 * order, so every frame the server sent before it has arrived by then.
 */
async function connect(server: TestServer, query: string, headers?: Record<string, string>) {
  const messages: Message[] = []
  const waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = []
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?${query}`, { headers } as never)
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener('close', resolve))
  ws.onmessage = (e) => {
    const message = JSON.parse(String(e.data)) as Message
    messages.push(message)
    for (const w of waiters.filter((w) => w.match(message))) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(message)
    }
  }
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve()
    ws.onerror = () => reject(new Error('socket refused'))
  })
  const next = (type: string, match: (m: Message) => boolean = () => true, timeoutMs = 3_000) => {
    const test = (m: Message) => m.type === type && match(m)
    const found = messages.find(test)
    if (found) return Promise.resolve(found)
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.type))}`)), timeoutMs)
      waiters.push({ match: test, resolve: (m) => (clearTimeout(timer), resolve(m)) })
    })
  }
  let pings = 0
  const settled = async () => {
    const before = messages.filter((m) => m.type === 'pong').length
    ws.send(JSON.stringify({ type: 'ping', n: ++pings }))
    await next('pong', () => messages.filter((m) => m.type === 'pong').length > before)
  }
  return { ws, messages, next, settled, closed, [Symbol.dispose]: () => ws.close() }
}

/** A WebSocket upgrade request by hand, to read the refusal's status and envelope. */
const upgrade = (server: TestServer, query: string) =>
  fetch(`${server.url}/ws?${query}`, {
    headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
  })

describe('/ws', () => {
  test('refused without the API key, or with a bad type', async () => {
    await using server = await hubServer()
    const noKey = await upgrade(server, 'type=dashboard')
    expect(noKey.status).toBe(401)
    expect((await noKey.json()).error.code).toBe('UNAUTHORIZED')
    const badType = await upgrade(server, `type=robot&apiKey=${server.apiKey}`)
    expect(badType.status).toBe(400)
    const viewerWithoutUser = await upgrade(server, `type=viewer&apiKey=${server.apiKey}`)
    expect(viewerWithoutUser.status).toBe(400)
    await expect(connect(server, 'type=dashboard&apiKey=wrong')).rejects.toThrow()
  })

  test('dashboard: stats on connect, then stats_update only when something changed', async () => {
    await using server = await hubServer()
    using dash = await connect(server, `type=dashboard&apiKey=${server.apiKey}`)
    const first = await dash.next('stats_update')
    expect(first.data.totalViewers).toBe(0)
    await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'd1' } })
    await server.ticker.fire()
    const update = await dash.next('stats_update', (m) => m.data.totalViewers === 1)
    expect(update.data.stages.length).toBeGreaterThanOrEqual(1)
    await dash.settled()
    const count = dash.messages.filter((m) => m.type === 'stats_update').length
    // Two more stats periods with nothing changing: nothing more is sent.
    await server.ticker.fire()
    await server.ticker.fire()
    await dash.settled()
    expect(dash.messages.filter((m) => m.type === 'stats_update').length).toBe(count)
  })

  test('media server (API key in a header): stage_created, stage_deleted, publisher_state and feeding_relay, in order, once each', async () => {
    await using server = await hubServer()
    using relay = await connect(server, 'type=media-server', { 'x-api-key': server.apiKey })
    const created = (await (await server.api('/api/stage', { method: 'POST', json: {} })).json()).data
    await server.ticker.fire()
    const event = await relay.next('stage_created', (m) => m.data.stageArn === created.stageArn)
    expect(Date.parse(event.data.timestamp)).not.toBeNaN()
    await server.api(`/api/stage/${encodeURIComponent(created.stageArn)}`, { method: 'DELETE' })
    await server.ticker.fire()
    await relay.next('stage_deleted', (m) => m.data.stageArn === created.stageArn)
    await server.api('/api/media/register', { method: 'POST', json: { serverId: 'relay-1', ipAddress: '127.0.0.1', port: 3001 } })
    await server.api('/api/media/heartbeat', { method: 'POST', json: { serverId: 'relay-1', publisherActive: true, connectedStages: [] } })
    await server.ticker.fire()
    expect((await relay.next('publisher_state')).data.active).toBe(true)
    // The one relay holding a publisher feeds the stages (issue 21: one feeding relay).
    const feeding = await relay.next('feeding_relay')
    expect(feeding.data.serverId).toBe('relay-1')
    expect(Date.parse(feeding.data.timestamp)).not.toBeNaN()
    await server.ticker.fire() // a further poll must not deliver anything twice
    await relay.settled()
    const types = relay.messages.map((m) => m.type).filter((t) => t !== 'stats_update' && t !== 'pong')
    expect(types).toEqual(['stage_created', 'stage_deleted', 'publisher_state', 'feeding_relay'])
  })

  test('viewer (viewerSession): rejoin_required reaches the viewers of a draining stage only', async () => {
    await using server = await hubServer()
    const tokens: { stageArn: string; viewerSession: string }[] = []
    for (const u of ['w1', 'w2', 'w3']) tokens.push((await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: u } })).json()).data)
    // Capacity 2: w3 sits on a later stage than w1.
    const target = tokens[2]!
    expect(target.stageArn).not.toBe(tokens[0]!.stageArn)
    using mine = await connect(server, `type=viewer&userId=w3&viewerSession=${encodeURIComponent(target.viewerSession)}`)
    using other = await connect(server, 'type=viewer&userId=w1', { authorization: `Bearer ${tokens[0]!.viewerSession}` })
    await server.stages.drain(target.stageArn)
    await server.ticker.fire()
    const message = await mine.next('rejoin_required')
    expect(message.data.stageArn).toBe(target.stageArn)
    await other.settled()
    expect(other.messages.filter((m) => m.type === 'rejoin_required')).toEqual([])
    // Another user's session cannot listen as this viewer.
    await expect(connect(server, `type=viewer&userId=someone-else&viewerSession=${encodeURIComponent(target.viewerSession)}`)).rejects.toThrow()
  })

  test('viewer (viewerSession): closed with 4401 when the session expires, not before; API-key sockets stay open', async () => {
    // Real time, shifted: the session (a 1-minute minimum lifetime) is made to expire 1.5 s from now.
    const clock = new ShiftedClock()
    const ticker = new ManualTicker()
    await using server = await freshServer({}, { ticker, clock })
    const token = (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'e1' } })).json()).data
    const expiresAt = Date.parse(token.expirationTime) // the session's expiry (whole seconds)
    clock.offset = expiresAt - 1_500 - Date.now()
    const openedAt = clock.now()
    using viewer = await connect(server, `type=viewer&userId=e1&viewerSession=${encodeURIComponent(token.viewerSession)}`)
    using byKey = await connect(server, `type=viewer&userId=e2&apiKey=${server.apiKey}`)
    using dash = await connect(server, `type=dashboard&apiKey=${server.apiKey}`)
    const timeout = Bun.sleep(4_000).then(() => null)
    const event = await Promise.race([viewer.closed, timeout])
    const closedAt = clock.now()
    expect(event?.code).toBe(4401)
    expect(event?.reason).toBe('session expired')
    expect(closedAt).toBeGreaterThanOrEqual(expiresAt)
    expect(closedAt).toBeLessThan(expiresAt + 1_000)
    expect(closedAt - openedAt).toBeGreaterThan(1_000)
    expect(server.hub.pendingExpiries).toBe(0)
    // The other sockets are unaffected.
    await byKey.settled()
    await dash.settled()
    expect(byKey.ws.readyState).toBe(WebSocket.OPEN)
    expect(dash.ws.readyState).toBe(WebSocket.OPEN)
    // The expired session cannot open a new socket.
    await expect(connect(server, `type=viewer&userId=e1&viewerSession=${encodeURIComponent(token.viewerSession)}`)).rejects.toThrow()
  })

  test('viewer (viewerSession): the expiry timer is cleared when the socket closes first', async () => {
    await using server = await hubServer()
    const token = (await (await server.api('/api/token/viewer', { method: 'POST', json: { userId: 'c1' } })).json()).data
    const viewer = await connect(server, `type=viewer&userId=c1&viewerSession=${encodeURIComponent(token.viewerSession)}`)
    using byKey = await connect(server, `type=viewer&userId=c2&apiKey=${server.apiKey}`)
    await byKey.settled()
    expect(server.hub.count('viewer')).toBe(2)
    expect(server.hub.pendingExpiries).toBe(1) // the API-key socket has no expiry
    viewer.ws.close(1000, 'bye')
    expect((await viewer.closed).code).toBe(1000)
    await eventually('the closed socket leaves the hub', () => server.hub.count('viewer') <= 1, 3_000, 10)
    expect(server.hub.count('viewer')).toBe(1)
    expect(server.hub.pendingExpiries).toBe(0)
  })
})

/** The system clock moved by `offset` ms (timers still run in real time). */
class ShiftedClock implements Clock {
  offset = 0
  now(): number {
    return Date.now() + this.offset
  }
}
