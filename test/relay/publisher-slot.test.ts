import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import nodeDataChannel from 'node-datachannel'
import type { RelayHandle } from '../../relay/main'
import { gatheredDescription, type PeerConnection } from '../../relay/peer'
import { eventually } from '../support/eventually'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'

/** The relay's publisher connect timeout in these tests (the default is 10 s). */
const CONNECT_TIMEOUT_MS = 3_000
const auth = { authorization: `Bearer ${PUBLISH_SECRET}` }

let stack: RelayStack
let relay: RelayHandle
const stalePeers: PeerConnection[] = []

beforeAll(async () => {
  stack = await startRelayStack({ relayEnv: { SERVER_ID: 'relay-slot' }, relay: { publisherConnectTimeoutMs: CONNECT_TIMEOUT_MS } })
  relay = stack.relay
}, 20_000)

afterAll(async () => {
  for (const pc of stalePeers) pc.close()
  await stack?.stop()
})

/**
 * A publisher that POSTs a real offer (H.264 + Opus, loopback candidates) and gets its 201, but never
 * applies the answer: its ICE never completes, so the relay's side of the session never connects.
 */
async function staleOffer(): Promise<{ status: number; location: string | null; body: string }> {
  const pc = new nodeDataChannel.PeerConnection('stale-publisher', { iceServers: [], bindAddress: '127.0.0.1' })
  stalePeers.push(pc)
  const video = new nodeDataChannel.Video('0', 'SendOnly')
  video.addH264Codec(96, 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1')
  video.addSSRC(1234, 'stale', 'stale', 'video')
  const audio = new nodeDataChannel.Audio('1', 'SendOnly')
  audio.addOpusCodec(111)
  audio.addSSRC(5678, 'stale', 'stale', 'audio')
  pc.addTrack(video)
  pc.addTrack(audio)
  pc.setLocalDescription()
  const offer = await gatheredDescription(pc, 5_000)
  const res = await fetch(`${relay.url}/whip`, { method: 'POST', headers: { ...auth, 'content-type': 'application/sdp' }, body: offer })
  return { status: res.status, location: res.headers.get('location'), body: await res.text() }
}

const publisherActiveAtHealth = async () => (await (await fetch(`${relay.url}/health`)).json()).stats.publisherActive as boolean

describe('the single publisher slot', () => {
  test('an offer that never connects is closed at the connect timeout, and a real publisher gets the slot', async () => {
    const postedAt = performance.now()
    const stale = await staleOffer()
    expect(stale.status).toBe(201)
    expect(relay.fanout.publisherActive).toBe(true)
    expect(await publisherActiveAtHealth()).toBe(true)
    await eventually('the stale session is closed', () => !relay.fanout.publisherActive, CONNECT_TIMEOUT_MS + 3_000)
    const freedAfterMs = performance.now() - postedAt
    console.log(`slot freed ${Math.round(freedAfterMs)} ms after the offer (connect timeout ${CONNECT_TIMEOUT_MS} ms)`)
    expect(freedAfterMs).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 100)
    expect(freedAfterMs).toBeLessThan(CONNECT_TIMEOUT_MS + 1_500)
    expect(await publisherActiveAtHealth()).toBe(false)
    expect((await fetch(`${relay.url}${stale.location}`, { headers: auth })).status).toBe(404)
    // A real publisher now connects and sends media.
    const publisher = new TestPublisher(relay.url, PUBLISH_SECRET)
    await publisher.start()
    try {
      await eventually('media from the new publisher', () => (relay.fanout.publisherSession?.packetsIn ?? 0) > 30, 5_000)
      expect(relay.fanout.publisherSession!.state).toBe('connected')
    } finally {
      await publisher.stop(true)
    }
    expect(relay.fanout.publisherActive).toBe(false)
  }, 20_000)

  test('a new publisher with the secret takes over a session that has not connected; a connected one still gets 409', async () => {
    const postedAt = performance.now()
    const stale = await staleOffer()
    expect(stale.status).toBe(201)
    const staleId = relay.fanout.publisherSession!.id
    // An offer the relay cannot take (no H.264) is 400 and leaves the session alone.
    const vp8 = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n'
    const bad = await fetch(`${relay.url}/whip`, { method: 'POST', headers: { ...auth, 'content-type': 'application/sdp' }, body: vp8 })
    expect(bad.status).toBe(400)
    expect(relay.fanout.publisherSession?.id).toBe(staleId)
    // Well before the connect timeout: the new publisher replaces the stale session instead of a 409.
    const publisher = new TestPublisher(relay.url, PUBLISH_SECRET)
    await publisher.start()
    try {
      const tookOverAfterMs = performance.now() - postedAt
      console.log(`took over a connecting session ${Math.round(tookOverAfterMs)} ms after its offer`)
      expect(tookOverAfterMs).toBeLessThan(CONNECT_TIMEOUT_MS)
      const live = relay.fanout.publisherSession!
      expect(live.id).not.toBe(staleId)
      expect((await fetch(`${relay.url}${stale.location}`, { headers: auth })).status).toBe(404)
      expect((await fetch(`${relay.url}${stale.location}`, { method: 'DELETE', headers: auth })).status).toBe(404)
      await eventually('media from the new publisher', () => live.packetsIn > 30, 5_000)
      // A connected publisher keeps the slot: another offer (stale or not) is 409.
      const refused = await staleOffer()
      expect(refused.status).toBe(409)
      expect(JSON.parse(refused.body).error.code).toBe('CONFLICT')
      const second = new TestPublisher(relay.url, PUBLISH_SECRET)
      await expect(second.start()).rejects.toThrow('409')
      await second.stop(false)
      expect(relay.fanout.publisherSession).toBe(live)
      const before = live.packetsIn
      await eventually('the live publisher still flows', () => live.packetsIn > before + 30, 5_000)
    } finally {
      await publisher.stop(true)
    }
  }, 20_000)
})
