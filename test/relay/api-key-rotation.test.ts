/**
 * The relay through an API key rotation: serve on API_SECRET_KEY=new with API_SECRET_KEY_PREVIOUS=old
 * keeps a relay that still holds the old key registered, following events and heartbeating (each
 * call counted on serve's /metrics) until the relay is redeployed; and the relay itself, given both
 * keys, opens /metrics and /health's details to either, through the same shared check.
 */
import { describe, expect, test } from 'bun:test'
import { eventually } from '../support/eventually'
import { startRelayStack } from '../support/relay-stack'

const NEW = 'the-new-api-key-0123456789'
const OLD = 'the-old-api-key-0123456789'
const THIRD = 'a-third-api-key-0123456789'

const counted = (text: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith('ivs_fanout_api_key_previous_used_total '))
      ?.split(' ')[1],
  )

describe('API key rotation and the relay', () => {
  test('a relay still on the previous key registers, follows events and keeps heartbeating during the grace period; serve counts its calls', async () => {
    const stack = await startRelayStack({ serveEnv: { API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD }, relayEnv: { API_SECRET_KEY: OLD } })
    try {
      const { relay, serve } = stack
      await eventually('the relay registered and following serve events', () => relay.link.registered && relay.link.following, 10_000)
      const record = async () => (await serve.store.listRelays()).find((r) => r.serverId === 'relay-test')
      const first = (await record())!.lastHeartbeatAt
      // HEARTBEAT_INTERVAL is 1 s in the stack: two more heartbeats, each accepted.
      await eventually('two more heartbeats', async () => ((await record())?.lastHeartbeatAt ?? 0) >= first + 2_000, 8_000)
      expect([(await record())!.offlineSince, relay.link.registered, relay.link.lastRegistrationError]).toEqual([null, true, null])
      const metrics = await (await fetch(`${serve.url}/metrics`, { headers: { 'x-api-key': NEW } })).text()
      // The registration, the event socket and the heartbeats at least.
      expect(counted(metrics)).toBeGreaterThanOrEqual(4)
    } finally {
      await stack.stop()
    }
  }, 30_000)

  test("the relay given both keys opens /metrics and /health's details to either, refuses a third, and counts the old one", async () => {
    const stack = await startRelayStack({
      serveEnv: { API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD },
      relayEnv: { API_SECRET_KEY: NEW, API_SECRET_KEY_PREVIOUS: OLD },
    })
    try {
      const { relay } = stack
      const get = (path: string, key: string) => fetch(`${relay.url}${path}`, { headers: { 'x-api-key': key } })
      expect((await get('/metrics', NEW)).status).toBe(200)
      expect((await get('/metrics', OLD)).status).toBe(200)
      expect((await get('/metrics', THIRD)).status).toBe(401)
      expect([(await (await get('/health', OLD)).json()).data.view, (await (await get('/health', NEW)).json()).data.view]).toEqual(['full', 'full'])
      expect((await get('/health', THIRD)).status).toBe(401)
      // The old key on /metrics and on /health: two uses, the new key none.
      expect(counted(await (await get('/metrics', NEW)).text())).toBe(2)
    } finally {
      await stack.stop()
    }
  }, 30_000)
})
