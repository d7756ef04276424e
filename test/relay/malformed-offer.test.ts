/**
 * WHIP offers with a malformed fingerprint, ICE credentials or candidates: 400 VALIDATION_ERROR naming
 * the line, a warning in the log (no stack, no error), and the session already there untouched,
 * whether it is still connecting or streaming. Real relay, real WebRTC on loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import nodeDataChannel from 'node-datachannel'
import { gatheredDescription, type PeerConnection } from '../../relay/peer'
import { createLogger } from '../../src/log'
import { eventually } from '../support/eventually'
import { TestPublisher } from '../support/publisher'
import { PUBLISH_SECRET, type RelayStack, startRelayStack } from '../support/relay-stack'

const auth = { authorization: `Bearer ${PUBLISH_SECRET}` }
const logs: { level: string; msg: string; [field: string]: unknown }[] = []
const peers: PeerConnection[] = []
let stack: RelayStack

beforeAll(async () => {
  const logger = createLogger('info', { mode: 'relay' }, (line) => logs.push(JSON.parse(line)))
  stack = await startRelayStack({ relayEnv: { SERVER_ID: 'relay-malformed' }, relay: { logger, publisherConnectTimeoutMs: 15_000 } })
}, 20_000)

afterAll(async () => {
  for (const pc of peers) pc.close()
  await stack?.stop()
})

/** A real offer (H.264 + Opus, loopback candidates) from a peer that never applies the answer. */
async function realOffer(): Promise<string> {
  const pc = new nodeDataChannel.PeerConnection('offerer', { iceServers: [], bindAddress: '127.0.0.1' })
  peers.push(pc)
  const video = new nodeDataChannel.Video('0', 'SendOnly')
  video.addH264Codec(96, 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1')
  const audio = new nodeDataChannel.Audio('1', 'SendOnly')
  audio.addOpusCodec(111)
  pc.addTrack(video)
  pc.addTrack(audio)
  pc.setLocalDescription()
  return gatheredDescription(pc, 5_000)
}

const publish = (offer: string) => fetch(`${stack.relay.url}/whip`, { method: 'POST', headers: { ...auth, 'content-type': 'application/sdp' }, body: offer })

/** [what is wrong, the line the answer names, how to break a good offer]. */
const MALFORMED: [string, string, (sdp: string) => string][] = [
  ['fingerprint of non-hex bytes', 'a=fingerprint', (sdp) => sdp.replace(/^a=fingerprint:.*$/m, 'a=fingerprint:sha-256 ZZ:D1')],
  ['fingerprint with an unknown hash', 'a=fingerprint', (sdp) => sdp.replace(/^a=fingerprint:sha-256/m, 'a=fingerprint:md7')],
  ['no ICE user fragment', 'a=ice-ufrag', (sdp) => sdp.replace(/^a=ice-ufrag:.*\r\n/gm, '')],
  ['empty ICE user fragment', 'a=ice-ufrag', (sdp) => sdp.replace(/^a=ice-ufrag:.*$/gm, 'a=ice-ufrag:')],
  ['no ICE password', 'a=ice-pwd', (sdp) => sdp.replace(/^a=ice-pwd:.*\r\n/gm, '')],
  ['garbage candidate', 'a=candidate', (sdp) => sdp.replace(/^a=candidate:.*$/m, 'a=candidate:garbage')],
  ['candidate without its type', 'a=candidate', (sdp) => sdp.replace(/^a=candidate:.*$/m, 'a=candidate:1 1 UDP 2114977791 127.0.0.1 5000')],
]

/** Sends every malformed offer; each must be 400 VALIDATION_ERROR naming its line. */
async function sendMalformed(): Promise<void> {
  const good = await realOffer()
  const wrong: string[] = []
  for (const [label, line, breakIt] of MALFORMED) {
    const res = await publish(breakIt(good))
    const body = (await res.json()) as { error?: { code: string; message: string; details?: { field?: string } } }
    const ok = res.status === 400 && body.error?.code === 'VALIDATION_ERROR' && body.error.message.includes(line) && body.error.details?.field === 'sdp'
    if (!ok) wrong.push(`${label}: ${res.status} ${JSON.stringify(body.error)}`)
  }
  expect(wrong).toEqual([])
}

/** The refusals were logged as the publisher's mistakes: warnings naming the line, no error, no stack. */
function expectClientErrorsLogged(since: number): void {
  const fresh = logs.slice(since)
  expect(fresh.filter((l) => l.level === 'error')).toEqual([])
  const refused = fresh.filter((l) => l.msg === 'WHIP offer refused')
  expect(refused.length).toBe(MALFORMED.length)
  for (const entry of refused) {
    expect(entry.level).toBe('warn')
    expect(String(entry.reason)).toContain("the offer's a=")
  }
  expect(JSON.stringify(fresh)).not.toContain('    at ')
}

describe('malformed WHIP offers', () => {
  test('while a publisher is connecting: 400 naming the line each time, and the connecting session keeps the slot', async () => {
    const since = logs.length
    const connecting = await publish(await realOffer())
    expect(connecting.status).toBe(201)
    const session = stack.relay.fanout.publisherSession!
    await sendMalformed()
    expect(stack.relay.fanout.publisherSession).toBe(session)
    expect(session.state).not.toBe('closed')
    expect(logs.slice(since).filter((l) => l.msg === 'publisher session ended')).toEqual([])
    expectClientErrorsLogged(since)
    expect((await fetch(`${stack.relay.url}${connecting.headers.get('location')}`, { method: 'DELETE', headers: auth })).status).toBe(200)
  }, 20_000)

  test('while a publisher streams: 400 naming the line each time, and its packets keep reaching the stage', async () => {
    const master = (await stack.serve.stages.master()).arn
    const publisher = new TestPublisher(stack.relay.url, PUBLISH_SECRET)
    await publisher.start()
    try {
      await eventually('media on the stage', () => stack.whip.record(master).videoPackets > 30, 15_000)
      const session = stack.relay.fanout.publisherSession!
      const since = logs.length
      await sendMalformed()
      expectClientErrorsLogged(since)
      expect(stack.relay.fanout.publisherSession).toBe(session)
      expect(session.state).toBe('connected')
      const before = stack.whip.record(master).videoPackets
      await eventually('the first publisher still reaches the stage', () => stack.whip.record(master).videoPackets > before + 60, 5_000)
    } finally {
      await publisher.stop(true)
    }
  }, 30_000)
})
